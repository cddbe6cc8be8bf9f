package broker

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// The login journey after /authorize: the first factor (a connector, or the
// browser's single sign-on session), then what the request and policy
// still ask for, then the code. Each step records its progress in the
// authorization request (UserID, AuthTime, AMR), so a page in between
// (a second factor, consent) resumes it from there.

// loginParams reads prompt, max_age and acr_values (OpenID Connect Core
// §3.1.2.1). max_age=0 is kept as prompt=login, which it means.
func loginParams(q url.Values) (prompt []string, maxAge int64, acr []string, e *authError) {
	prompt = strings.Fields(q.Get("prompt"))
	for _, p := range prompt {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, p) {
			return nil, 0, nil, &authError{"invalid_request", "unknown prompt value " + p}
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return nil, 0, nil, &authError{"invalid_request", "prompt=none cannot be combined with other values"}
	}
	if raw, ok := q["max_age"]; ok {
		n, err := strconv.ParseInt(raw[0], 10, 64)
		if err != nil || n < 0 {
			return nil, 0, nil, &authError{"invalid_request", "max_age must be a non-negative number of seconds"}
		}
		if n == 0 && !slices.Contains(prompt, "login") {
			prompt = append(prompt, "login")
		}
		maxAge = n
	}
	return prompt, maxAge, strings.Fields(q.Get("acr_values")), nil
}

// ssoServes reports whether the browser's session s may answer req without
// asking the person to log in again.
func (b *Broker) ssoServes(s *sso, req store.AuthRequest) bool {
	if s == nil || slices.Contains(req.Prompt, "login") {
		return false
	}
	return req.MaxAge == 0 || !b.opts.Now().After(s.AuthTime.Add(time.Duration(req.MaxAge)*time.Second))
}

// continueLogin takes a request whose first factor is done through the
// steps that remain, then ends it with a code for the client. s is the
// single sign-on session the login came from, nil after an interactive
// login (which starts a new one). stored says whether req is in the store
// (an IdP-initiated login's is not).
func (b *Broker) continueLogin(c *gin.Context, req store.AuthRequest, stored bool, s *sso) {
	ctx := c.Request.Context()
	unavailable := func(what string, err error) {
		b.log.Error("login: "+what, "err", err)
		b.errorPage(c, http.StatusServiceUnavailable, "Temporarily unavailable", "Please try again later.")
	}
	if stored {
		// Spent before the code exists, so that of two submits racing with
		// the same request only one gets a code.
		switch err := b.store.DeleteAuthRequest(ctx, req.ID); {
		case errors.Is(err, store.ErrNotFound):
			b.errorPage(c, http.StatusBadRequest, "Login expired", "This login was already used. Go back to the application and start again.")
			return
		case err != nil:
			unavailable("spend auth request", err)
			return
		}
	}
	if req.ClientID == "" { // a login to the account page, not to a client
		if s == nil {
			if err := b.startSSO(c, req.UserID, req.ConnectorID, req.AuthTime, req.AMR, ""); err != nil {
				unavailable("start session", err)
				return
			}
		}
		c.Redirect(http.StatusSeeOther, req.RedirectURI)
		return
	}
	// The token session is named now, so the browser session can list it
	// before any token exists.
	family := tokensvc.NewID()
	var err error
	if s == nil {
		err = b.startSSO(c, req.UserID, req.ConnectorID, req.AuthTime, req.AMR, family)
	} else {
		err = b.useSSO(ctx, s, family)
	}
	if err != nil {
		unavailable("session", err)
		return
	}
	code, err := b.issueCode(ctx, req, family)
	if err != nil {
		unavailable("issue code", err)
		return
	}
	how := "password"
	if s != nil {
		how = "sso"
	}
	b.log.Info("login succeeded", "connector", req.ConnectorID, "client_id", req.ClientID, "user", req.UserID, "via", how)
	d := map[string]string{}
	if len(req.AMR) > 0 {
		d["amr"] = strings.Join(req.AMR, " ")
	}
	if s != nil {
		d["sso"] = "true"
	}
	b.auditRequest(c, store.AuditEvent{Type: AuditLoginSuccess, Actor: actorUser(req.UserID), UserID: req.UserID,
		ClientID: req.ClientID, ConnectorID: req.ConnectorID, Details: d})
	v := url.Values{"code": {code}, "iss": {b.opts.Issuer}}
	if req.State != "" {
		v.Set("state", req.State)
	}
	c.Redirect(http.StatusSeeOther, withQuery(req.RedirectURI, v))
}
