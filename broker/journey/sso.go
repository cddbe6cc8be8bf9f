package journey

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// The single sign-on session: after one login, the browser carries a
// cookie naming a server-side record, and later authorization requests
// from any client log the person in from it without a password, until it
// ends by logout, an idle or an absolute timeout, or an administrator.
//
// The cookie is "<user id>.<secret>"; the record's key is the user id and
// the secret's hash, so that a stolen store gives no usable cookie and all
// of one user's sessions can be listed (and ended) by prefix.
const (
	sessionCookie = "portico_session"
	ssoKind       = "sso"
)

// ssoSession is the record of one browser's session.
type ssoSession struct {
	UserID      string    `json:"user_id"`
	ConnectorID string    `json:"connector_id"`
	AuthTime    time.Time `json:"auth_time"`
	AMR         []string  `json:"amr,omitempty"`
	Created     time.Time `json:"created"`
	LastSeen    time.Time `json:"last_seen"`
	// Families are the token sessions (sid) logins from this browser
	// session started; logging out ends them too.
	Families []string `json:"families,omitempty"`
}

// sso is a loaded session with the record it came from.
type sso struct {
	ssoSession
	rec store.Record
}

func ssoKey(userID, secret string) string { return userID + "/" + core.HashString(secret) }

// expiry is when s ends if not used again.
func (j *Server) ssoExpiry(s ssoSession) time.Time {
	idle, abs := s.LastSeen.Add(j.opts.SessionIdle), s.Created.Add(j.opts.SessionAbsolute)
	if idle.Before(abs) {
		return idle
	}
	return abs
}

// currentSSO returns the browser's live session, or nil: no cookie, an
// unknown, expired or ended one, or one of a user no longer active.
func (j *Server) currentSSO(c *gin.Context) (*sso, error) {
	if j.opts.SessionAbsolute <= 0 {
		return nil, nil
	}
	v, err := c.Cookie(sessionCookie)
	if err != nil || len(v) > 512 {
		return nil, nil
	}
	userID, secret, ok := strings.Cut(v, ".")
	if !ok || userID == "" || len(secret) < 32 {
		return nil, nil
	}
	ctx := c.Request.Context()
	rec, err := j.store.GetRecord(ctx, ssoKind, ssoKey(userID, secret))
	// The store drops the record at its Expiry by its own clock, to the
	// second; the broker's clock decides (and tests move it).
	if errors.Is(err, store.ErrNotFound) || (err == nil && !j.opts.Now().Before(rec.Expiry)) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	s := &sso{rec: rec}
	if err := json.Unmarshal(rec.Value, &s.ssoSession); err != nil || s.UserID != userID {
		return nil, nil
	}
	u, err := j.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read user: %w", err)
	}
	return s, nil
}

// startSSO ends the browser's session, if any, and starts a new one for
// the login just made, with familyID as its first token session.
func (j *Server) startSSO(c *gin.Context, userID, connectorID string, authTime time.Time, amr []string, familyID string) error {
	if j.opts.SessionAbsolute <= 0 {
		return nil
	}
	ctx := c.Request.Context()
	// A new login in this browser replaces the old session: a second
	// person at a shared computer does not inherit the first's. The same
	// person logging in again (a second factor, a fresh password) keeps
	// the token sessions the old one started, for logout to end.
	// The absolute timeout runs from the first login: a step that starts
	// the session again (a second factor, consent) does not renew it.
	var keep []string
	now := j.opts.Now().UTC()
	created := now
	if old, err := j.currentSSO(c); err == nil && old != nil {
		if old.UserID == userID {
			keep, created = old.Families, old.Created
			if err := j.store.DeleteRecord(ctx, ssoKind, old.rec.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("end previous session: %w", err)
			}
		} else if err := j.endSSORecord(ctx, old); err != nil {
			// Another person: their applications' sessions end with it.
			return fmt.Errorf("end previous session: %w", err)
		}
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	s := ssoSession{UserID: userID, ConnectorID: connectorID, AuthTime: authTime, AMR: amr, Created: created, LastSeen: now}
	s.Families = slices.Clone(keep)
	if familyID != "" {
		s.Families = append(s.Families, familyID)
	}
	val, _ := json.Marshal(s)
	rec := store.Record{Kind: ssoKind, Key: ssoKey(userID, secret), Value: val, Expiry: j.ssoExpiry(s)}
	if err := j.store.PutRecord(ctx, rec); err != nil {
		return fmt.Errorf("store session: %w", err)
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: userID + "." + secret, Path: j.path("/"), HttpOnly: true,
		Secure: j.secure, SameSite: http.SameSiteLaxMode,
		// A session cookie: closing the browser ends it on this side too.
	})
	return nil
}

// useSSO records a login made from s: the idle timeout starts again and
// familyID joins the sessions logout ends.
func (j *Server) useSSO(ctx context.Context, s *sso, familyID string) error {
	for range core.Retries {
		next := s.ssoSession
		next.LastSeen = j.opts.Now().UTC()
		if familyID != "" && !slices.Contains(next.Families, familyID) {
			next.Families = append(slices.Clone(next.Families), familyID)
		}
		val, _ := json.Marshal(next)
		rec := s.rec
		rec.Value, rec.Expiry = val, j.ssoExpiry(next)
		err := j.store.PutRecord(ctx, rec)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("update session: %w", err)
		}
		// Another tab used the session meanwhile: read and apply again.
		cur, err := j.store.GetRecord(ctx, ssoKind, s.rec.Key)
		if err != nil {
			return fmt.Errorf("reread session: %w", err)
		}
		s.rec = cur
		if err := json.Unmarshal(cur.Value, &s.ssoSession); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
	}
	return core.ErrTooManyRetries
}

// endSSO ends the browser's session and every token session started from
// it, and clears the cookie.
func (j *Server) endSSO(c *gin.Context) error {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: "", Path: j.path("/"), MaxAge: -1, HttpOnly: true,
		Secure: j.secure, SameSite: http.SameSiteLaxMode,
	})
	s, err := j.currentSSO(c)
	if err != nil || s == nil {
		return err
	}
	return j.endSSORecord(c.Request.Context(), s)
}

func (j *Server) endSSORecord(ctx context.Context, s *sso) error {
	if err := j.store.DeleteRecord(ctx, ssoKind, s.rec.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("end session: %w", err)
	}
	for _, f := range s.Families {
		if err := j.tokens.RevokeFamily(ctx, f); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("end token session %s: %w", f, err)
		}
	}
	return nil
}

// endUserSSO ends every browser session of a user (disabled, deleted, or
// an administrator ending its sessions) and counts them. The token
// sessions they started end too, including those named for a code not
// yet redeemed, which the store cannot list by user any other way.
func (j *Server) endUserSSO(ctx context.Context, userID string) (int, error) {
	recs, err := j.store.ListRecords(ctx, ssoKind, userID+"/")
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	for _, r := range recs {
		s := &sso{rec: r}
		if err := json.Unmarshal(r.Value, &s.ssoSession); err != nil {
			s.Families = nil // unreadable: delete it all the same
		}
		if err := j.endSSORecord(ctx, s); err != nil {
			return 0, err
		}
	}
	return len(recs), nil
}

// EndUserSessions ends every single sign-on session of the user (the
// user was disabled or deleted, their second factors reset) and the
// token sessions they started; it returns how many ended.
func (j *Server) EndUserSessions(ctx context.Context, userID string) (int, error) {
	return j.endUserSSO(ctx, userID)
}
