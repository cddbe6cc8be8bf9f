package journey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/audit"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// Consent: a third-party client (Client.Consent) gets a user's data only
// after the person allows the scopes it asks for. The answer is remembered
// per user and client, for the scopes allowed, until the person revokes it
// on the account page; a request for more scopes asks again, and so does
// prompt=consent. First-party clients never ask.

const consentKind = "consent" // key: user id "/" client id

type consentRecord struct {
	Scopes    []string  `json:"scopes"`
	GrantedAt time.Time `json:"granted_at"`
}

func consentKey(userID, clientID string) string { return userID + "/" + clientID }

// consentStep returns "/consent" when req needs the person's consent.
func (j *Server) consentStep(ctx context.Context, req store.AuthRequest) (string, error) {
	client, err := j.store.GetClient(ctx, req.ClientID)
	if err != nil {
		return "", fmt.Errorf("read client: %w", err)
	}
	// prompt=consent asks whatever the client (OpenID Connect Core
	// §3.1.2.1: the server SHOULD prompt for consent).
	if slices.Contains(req.Prompt, "consent") {
		return "/consent", nil
	}
	if !client.Consent {
		return "", nil
	}
	rec, err := j.store.GetRecord(ctx, consentKind, consentKey(req.UserID, req.ClientID))
	if errors.Is(err, store.ErrNotFound) {
		return "/consent", nil
	} else if err != nil {
		return "", fmt.Errorf("read consent: %w", err)
	}
	var cr consentRecord
	if err := json.Unmarshal(rec.Value, &cr); err != nil {
		return "/consent", nil
	}
	for _, s := range req.Scopes {
		if !slices.Contains(cr.Scopes, s) {
			return "/consent", nil
		}
	}
	return "", nil
}

// scopeText says in words what a scope lets the client do.
func (j *Server) scopeText(c *gin.Context, s string) string {
	if t := j.ui.T(c, "ui.scope."+s); t != "ui.scope."+s {
		return t
	}
	return j.ui.T(c, "ui.scope_other", strings.ReplaceAll(s, "_", " "))
}

func (j *Server) handleConsent(c *gin.Context) {
	req, ok := j.stepRequest(c, "/consent")
	if !ok {
		return
	}
	name, items, third, ok := j.askedFor(c, req, "consent")
	if !ok {
		return
	}
	j.ui.Render(c, http.StatusOK, "consent", map[string]any{
		"Title": j.ui.T(c, "ui.consent_title"), "Intro": j.ui.T(c, "ui.consent_intro", name), "ThirdParty": third,
		"Scopes": items, "Req": req.ID, "CSRF": req.CSRFToken, "Action": j.path("/consent"),
	})
}

func (j *Server) handleConsentSubmit(c *gin.Context) {
	req, ok := j.stepRequest(c, "/consent")
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if c.PostForm("answer") != "allow" {
		if err := j.store.DeleteAuthRequest(ctx, req.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			j.log.Warn("consent: delete request", "err", err)
		}
		j.ui.RedirectError(c, req.RedirectURI, req.State, req.ResponseMode, "access_denied", "the user did not allow the request")
		return
	}
	key := consentKey(req.UserID, req.ClientID)
	cr := consentRecord{Scopes: slices.Clone(req.Scopes), GrantedAt: j.opts.Now().UTC()}
	rec := store.Record{Kind: consentKind, Key: key}
	if old, err := j.store.GetRecord(ctx, consentKind, key); err == nil {
		var prev consentRecord
		if json.Unmarshal(old.Value, &prev) == nil {
			for _, s := range prev.Scopes {
				if !slices.Contains(cr.Scopes, s) {
					cr.Scopes = append(cr.Scopes, s)
				}
			}
		}
		rec.Version = old.Version
	} else if !errors.Is(err, store.ErrNotFound) {
		j.ui.Unavailable(c, "consent: read", err)
		return
	}
	rec.Value, _ = json.Marshal(cr)
	if err := j.store.PutRecord(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrAlreadyExists) {
		j.ui.Unavailable(c, "consent: save", err)
		return
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.ConsentGrant, Actor: audit.User(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, Details: map[string]string{"scope": strings.Join(req.Scopes, " ")}})
	// Asked and answered: prompt=consent is satisfied.
	req.Prompt = slices.DeleteFunc(req.Prompt, func(p string) bool { return p == "consent" })
	j.continueLogin(c, req, true, nil)
}

// userConsents lists the clients a user has allowed, for the account page.
func (j *Server) userConsents(ctx context.Context, userID string) ([]map[string]string, error) {
	recs, err := j.store.ListRecords(ctx, consentKind, userID+"/")
	if err != nil {
		return nil, err
	}
	var out []map[string]string
	for _, r := range recs {
		clientID := strings.TrimPrefix(r.Key, userID+"/")
		name := clientID
		if cl, err := j.store.GetClient(ctx, clientID); err == nil && cl.Name != "" {
			name = cl.Name
		}
		out = append(out, map[string]string{"Name": name, "Action": j.path("/account/consents/" + url.PathEscape(clientID) + "/revoke")})
	}
	return out, nil
}

// handleConsentRevoke forgets a consent: the client asks again next time,
// and its sessions for the user end now.
func (j *Server) handleConsentRevoke(c *gin.Context) {
	s, err := j.currentSSO(c)
	if err != nil || s == nil {
		j.ui.Page(c, http.StatusForbidden, ui.MsgLinkNeedsLogin)
		return
	}
	if !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
		j.ui.Page(c, http.StatusForbidden, ui.MsgAccountCSRF)
		return
	}
	ctx := c.Request.Context()
	clientID := c.Param("client")
	if err := j.store.DeleteRecord(ctx, consentKind, consentKey(s.UserID, clientID)); err != nil && !errors.Is(err, store.ErrNotFound) {
		j.ui.Unavailable(c, "consent: revoke", err)
		return
	}
	fams, err := j.store.ListRefreshFamilies(ctx, s.UserID)
	if err != nil {
		j.ui.Unavailable(c, "consent: list sessions", err)
		return
	}
	for _, f := range fams {
		if f.ClientID == clientID && !f.Revoked {
			if err := j.tokens.RevokeFamily(ctx, f.ID); err != nil {
				j.ui.Unavailable(c, "consent: end session", err)
				return
			}
		}
	}
	j.audit.Request(c, store.AuditEvent{Type: audit.ConsentRevoke, Actor: audit.User(s.UserID), UserID: s.UserID, ClientID: clientID})
	c.Redirect(http.StatusSeeOther, j.path("/account")+"?done=revoked&client="+url.QueryEscape(clientID))
}

// askedFor returns, for a page that asks the person about req, the name of
// its client, its scopes as the person reads them, and whether the client
// registered itself (its name is its own choice: the page says so). On
// failure it has answered (what names the page in the log).
func (j *Server) askedFor(c *gin.Context, req store.AuthRequest, what string) (string, []string, bool, bool) {
	client, err := j.store.GetClient(c.Request.Context(), req.ClientID)
	if err != nil {
		j.ui.Unavailable(c, what+": read client", err)
		return "", nil, false, false
	}
	var items []string
	for _, s := range req.Scopes {
		items = append(items, j.scopeText(c, s))
	}
	return firstNonEmpty(client.Name, client.ID), items, client.Registration != nil, true
}
