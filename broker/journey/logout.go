package journey

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// handleLogout is OpenID Connect RP-Initiated Logout 1.0. The id_token_hint
// names the session to end; post_logout_redirect_uri must be registered
// for the client, exactly, or Portico shows its own page instead.
//
// Anyone can make a browser open this URL, with any id_token they hold, so
// the browser's session ends without asking only when the hint is of that
// very session: its sid one the browser's session started and its sub the
// browser's user (§2: the OP MUST ask otherwise). A hint whose session is
// over counts as no hint. Without a browser session there is nothing of the
// browser's to protect: a live hint ends its own token session.
func (j *Server) handleLogout(c *gin.Context) {
	ctx := c.Request.Context()
	if err := c.Request.ParseForm(); err != nil {
		j.ui.Page(c, http.StatusBadRequest, ui.MsgBadLogout)
		return
	}
	q := c.Request.Form
	clientID, session, hintSub := q.Get("client_id"), "", ""
	if hint := q.Get("id_token_hint"); hint != "" {
		h, err := j.tokens.ParseIDTokenHint(hint)
		if err != nil {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLogoutBadHint)
			return
		}
		if clientID != "" && clientID != h.ClientID {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLogoutOtherClient)
			return
		}
		clientID = h.ClientID
		if h.Session != "" {
			switch err := j.tokens.SessionAlive(ctx, h.Session); {
			case err == nil:
				session, hintSub = h.Session, h.Subject
			case errors.Is(err, tokensvc.ErrInvalidToken): // over: no hint
			default:
				j.log.Error("logout: read session", "err", err)
				j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
				return
			}
		}
	}
	// A request that cannot be carried out as asked is refused before the
	// person is asked to confirm it: confirming, then being told the
	// application is unknown, with nothing logged out, misleads.
	redirect := q.Get("post_logout_redirect_uri")
	if redirect != "" {
		client, err := j.store.GetClient(ctx, clientID)
		if errors.Is(err, store.ErrNotFound) || clientID == "" {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLogoutUnknownClient)
			return
		} else if err != nil {
			j.log.Error("logout: read client", "err", err)
			j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
			return
		}
		if !slices.Contains(client.PostLogoutRedirectURIs, redirect) {
			j.ui.Page(c, http.StatusBadRequest, ui.MsgLogoutBadRedirect)
			return
		}
	}
	s, err := j.currentSSO(c)
	if err != nil {
		j.log.Error("logout: read browser session", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgUnavailable)
		return
	}
	own := s != nil && session != "" && s.UserID == hintSub && slices.Contains(s.Families, session)
	if s != nil && !own {
		// Ask, and take the answer only from our own form.
		if c.Request.Method == http.MethodPost && c.PostForm("cancel") != "" {
			j.ui.Render(c, http.StatusOK, "logout_cancelled", map[string]any{"Title": j.ui.T(c, "ui.logout_cancelled_title")})
			return
		}
		if c.Request.Method != http.MethodPost || !core.ConstantEqual(c.PostForm("csrf"), accountCSRF(c)) {
			fields := map[string]string{"csrf": accountCSRF(c)}
			for _, k := range []string{"client_id", "post_logout_redirect_uri", "state", "id_token_hint"} {
				if v := q.Get(k); v != "" {
					fields[k] = v
				}
			}
			j.ui.Render(c, http.StatusOK, "logout_confirm", map[string]any{
				"Title": j.ui.T(c, "ui.logout_confirm"), "Action": j.path("/logout"), "Fields": fields,
			})
			return
		}
	}
	if session != "" {
		if err := j.tokens.RevokeFamily(ctx, session); err != nil {
			j.log.Error("logout: end session", "err", err)
			j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgLogoutFailed)
			return
		}
		j.log.Info("logout", "client_id", clientID)
	}
	// The browser's single sign-on session ends too, and with it the token
	// sessions of every application it logged in: logging out of one
	// application logs the browser out of all.
	if err := j.endSSO(c); err != nil {
		j.log.Error("logout: end browser session", "err", err)
		j.ui.Page(c, http.StatusServiceUnavailable, ui.MsgLogoutFailed)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: browserCookie, Value: "", Path: j.path("/"), MaxAge: -1, HttpOnly: true,
		Secure: j.secure, SameSite: http.SameSiteLaxMode,
	})
	if redirect != "" {
		v := url.Values{}
		if st := q.Get("state"); st != "" {
			v.Set("state", st)
		}
		target := redirect
		if len(v) > 0 {
			target = core.WithQuery(redirect, v)
		}
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	j.ui.Render(c, http.StatusOK, "loggedout", map[string]any{"Title": j.ui.T(c, "ui.logged_out_title")})
}
