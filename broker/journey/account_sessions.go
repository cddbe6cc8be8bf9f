package journey

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/ui"
)

// The person's sessions on the account page: the applications holding a
// live token session (a refresh family) of theirs, each of which they can
// end, and their browsers' single sign-on sessions, this one marked, the
// others of which they can end at once.

const (
	maxClientID = 256 // bytes of a client id in a path
	timeFormat  = "2006-01-02 15:04 MST"
)

// app is one application's live token sessions of the user.
type app struct {
	ClientID, Name, Action string
	Started, LastUsed      time.Time
	Families               []string
	ThisBrowser            bool
}

// userApps groups the user's live token sessions by application.
func (j *Server) userApps(ctx context.Context, s *sso) ([]app, error) {
	fams, err := j.store.ListRefreshFamilies(ctx, s.UserID)
	if err != nil {
		return nil, fmt.Errorf("list token sessions: %w", err)
	}
	now := j.opts.Now()
	by := map[string]*app{}
	var out []*app
	for _, f := range fams {
		if f.Revoked || f.ClientID == "" || !now.Before(f.Expiry) {
			continue
		}
		a := by[f.ClientID]
		if a == nil {
			a = &app{ClientID: f.ClientID, Name: f.ClientID, Started: f.CreatedAt,
				Action: j.path("/account/apps/" + url.PathEscape(f.ClientID) + "/end")}
			if cl, err := j.store.GetClient(ctx, f.ClientID); err == nil && cl.Name != "" {
				a.Name = cl.Name
			}
			by[f.ClientID] = a
			out = append(out, a)
		}
		a.Families = append(a.Families, f.ID)
		a.ThisBrowser = a.ThisBrowser || slices.Contains(s.Families, f.ID)
		if f.CreatedAt.Before(a.Started) {
			a.Started = f.CreatedAt
		}
		a.LastUsed = maxTime(a.LastUsed, f.RotatedAt, f.CreatedAt)
	}
	slices.SortFunc(out, func(a, b *app) int { return cmp.Compare(a.Name, b.Name) })
	apps := make([]app, len(out))
	for i, a := range out {
		apps[i] = *a
	}
	return apps, nil
}

func maxTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// userBrowsers lists the user's live single sign-on sessions, this
// browser's (s) first.
func (j *Server) userBrowsers(ctx context.Context, s *sso) ([]*sso, error) {
	recs, err := j.store.ListRecords(ctx, ssoKind, s.UserID+"/")
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	now := j.opts.Now()
	var out []*sso
	for _, r := range recs {
		o := &sso{rec: r}
		if !now.Before(r.Expiry) || json.Unmarshal(r.Value, &o.ssoSession) != nil {
			continue
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b *sso) int {
		switch {
		case a.rec.Key == s.rec.Key:
			return -1
		case b.rec.Key == s.rec.Key:
			return 1
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return out, nil
}

// accountSessions is the sessions part of the account page's data.
func (j *Server) accountSessions(ctx context.Context, s *sso) (map[string]any, error) {
	apps, err := j.userApps(ctx, s)
	if err != nil {
		return nil, err
	}
	bs, err := j.userBrowsers(ctx, s)
	if err != nil {
		return nil, err
	}
	var appRows, browserRows []map[string]any
	others := len(bs) > 1
	for _, a := range apps {
		appRows = append(appRows, map[string]any{"Name": a.Name, "Action": a.Action, "ThisBrowser": a.ThisBrowser,
			"Started": a.Started.UTC().Format(timeFormat), "LastUsed": a.LastUsed.UTC().Format(timeFormat)})
		others = others || slices.ContainsFunc(a.Families, func(f string) bool { return !slices.Contains(s.Families, f) })
	}
	for _, b := range bs {
		browserRows = append(browserRows, map[string]any{"Current": b.rec.Key == s.rec.Key,
			"Started": b.Created.UTC().Format(timeFormat), "LastSeen": b.LastSeen.UTC().Format(timeFormat)})
	}
	return map[string]any{"Apps": appRows, "Browsers": browserRows, "Others": others,
		"EndOthers": j.path("/account/sessions/end")}, nil
}

// revokeFamilies ends the user's live token sessions that match, and
// counts them.
func (j *Server) revokeFamilies(ctx context.Context, userID string, match func(store.RefreshFamily) bool) (int, error) {
	fams, err := j.store.ListRefreshFamilies(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("list token sessions: %w", err)
	}
	n := 0
	for _, f := range fams {
		if f.Revoked || !match(f) {
			continue
		}
		if err := j.tokens.RevokeFamily(ctx, f.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("end token session %s: %w", f.ID, err)
		}
		n++
	}
	return n, nil
}

// endOtherSessions ends every session of s's user but this browser's: the
// other browsers' single sign-on sessions with the token sessions they
// started, and every token session this browser did not start (through
// the admin API's code path, Deps.Sessions). It counts the browsers and
// the token sessions.
func (j *Server) endOtherSessions(ctx context.Context, s *sso) (browsers, tokens int, err error) {
	recs, err := j.store.ListRecords(ctx, ssoKind, s.UserID+"/")
	if err != nil {
		return 0, 0, fmt.Errorf("list sessions: %w", err)
	}
	for _, r := range recs {
		if r.Key == s.rec.Key {
			continue
		}
		o := &sso{rec: r}
		if err := json.Unmarshal(r.Value, &o.ssoSession); err != nil {
			o.Families = nil // unreadable: delete it all the same
		}
		if err := j.endSSORecord(ctx, o); err != nil {
			return browsers, 0, err
		}
		browsers++
	}
	// This browser's record again: a login in another tab may have added
	// a token session to it meanwhile.
	keep := s.Families
	if cur, err := j.store.GetRecord(ctx, ssoKind, s.rec.Key); err == nil {
		var now ssoSession
		if json.Unmarshal(cur.Value, &now) == nil {
			keep = now.Families
		}
	}
	if j.sessions != nil {
		tokens, err = j.sessions.RevokeUserSessions(ctx, s.UserID, keep...)
	} else {
		tokens, err = j.revokeFamilies(ctx, s.UserID, func(f store.RefreshFamily) bool { return !slices.Contains(keep, f.ID) })
	}
	return browsers, tokens, err
}

// handleAppEnd ends the person's token sessions of one application: its
// refresh tokens stop working, and its access tokens as token revocation
// says (docs/tokens.md).
func (j *Server) handleAppEnd(c *gin.Context) {
	s, ok := j.accountAction(c, false)
	if !ok {
		return
	}
	clientID := c.Param("client")
	if clientID == "" || len(clientID) > maxClientID {
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	}
	now := j.opts.Now()
	n, err := j.revokeFamilies(c.Request.Context(), s.UserID, func(f store.RefreshFamily) bool {
		return f.ClientID == clientID && now.Before(f.Expiry)
	})
	if err != nil {
		j.ui.Unavailable(c, "account: end application sessions", err)
		return
	}
	if n == 0 { // none of this person's: another's client id tells nothing
		j.ui.Page(c, http.StatusNotFound, ui.MsgNotFound)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.SessionsEnd, Actor: audit.User(s.UserID), UserID: s.UserID, ClientID: clientID,
		Details: map[string]string{"sessions": strconv.Itoa(n), "via": "account"}})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=ended")
}

// handleOtherSessionsEnd is "End other sessions": everywhere but here.
func (j *Server) handleOtherSessionsEnd(c *gin.Context) {
	s, ok := j.accountAction(c, false)
	if !ok {
		return
	}
	browsers, tokens, err := j.endOtherSessions(c.Request.Context(), s)
	if err != nil {
		j.ui.Unavailable(c, "account: end other sessions", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.SessionsEnd, Actor: audit.User(s.UserID), UserID: s.UserID,
		Details: map[string]string{"browsers": strconv.Itoa(browsers), "sessions": strconv.Itoa(tokens), "via": "account", "scope": "others"}})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=others")
}
