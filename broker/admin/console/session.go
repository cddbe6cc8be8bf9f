package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// A console session is the administrator's access token, in an HttpOnly
// cookie scoped to /admin/ (SameSite Strict), and a store record keyed by
// the token's hash that says when the administrator logged in. Nothing
// secret is stored: the record alone grants nothing. Every page sends the
// token to the admin API, which decides; logging out revokes it.

const (
	sessionCookie = "portico_console"
	loginCookie   = "portico_console_login"
	sessionKind   = "console-session" // key: hash of the access token
	loginKind     = "console-login"   // key: hash of the state
	loginTTL      = 10 * time.Minute
	// maxReturn bounds the page a login returns to: the record keeps it,
	// and no console page's address is longer.
	maxReturn = 2048
	// maxAnswer bounds what the console reads of an answer of the API.
	maxAnswer = 8 << 20
)

type loginState struct {
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Return   string `json:"return"`
}

type sessionState struct {
	UserID   string    `json:"user_id"`
	AuthTime time.Time `json:"auth_time"`
}

// sess is a request's console session.
type sess struct {
	token string
	sessionState
	csrf string
}

// csrfOf is the forms' token of a session: derived from the access token,
// which only this browser's cookie holds.
func csrfOf(token string) string { return core.HashString("console-csrf:" + token) }

// login starts the code flow: PKCE, state and nonce, kept in a record the
// state names and bound to this browser by a cookie.
func (c *Console) login(g *gin.Context) {
	noStore(g)
	state, verifier, nonce := tokensvc.NewID(), tokensvc.NewID()+tokensvc.NewID(), tokensvc.NewID()
	ret := g.Query("return")
	if len(ret) > maxReturn || !c.localPath(ret) {
		ret = c.path("/admin/")
	}
	v, _ := json.Marshal(loginState{Verifier: verifier, Nonce: nonce, Return: ret})
	err := c.store.PutRecord(g.Request.Context(), store.Record{Kind: loginKind, Key: core.HashString(state), Value: v,
		Expiry: c.opts.Now().Add(loginTTL)})
	if err != nil {
		c.fail(g, "start login", err)
		return
	}
	c.setCookie(g, loginCookie, state, int(loginTTL/time.Second), http.SameSiteLaxMode)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.opts.ClientID}, "redirect_uri": {c.url("/admin/callback")},
		"scope": {"openid profile admin"}, "state": {state}, "nonce": {nonce},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	g.Redirect(http.StatusSeeOther, c.path("/authorize")+"?"+q.Encode())
}

// callback redeems the code at the token endpoint, in process, and opens
// the session.
func (c *Console) callback(g *gin.Context) {
	ctx := g.Request.Context()
	noStore(g)
	state, _ := g.Cookie(loginCookie)
	c.setCookie(g, loginCookie, "", -1, http.SameSiteLaxMode)
	// The state first: a callback this browser did not start says nothing
	// of its own, error or not.
	if state == "" || !core.ConstantEqual(state, g.Query("state")) {
		c.message(g, http.StatusBadRequest, "console.loginExpired", "")
		return
	}
	if e := g.Query("error"); e != "" {
		if !errorCode.MatchString(e) {
			e = ""
		}
		c.message(g, http.StatusForbidden, "console.loginFailed", e)
		return
	}
	key := core.HashString(state)
	rec, err := c.store.GetRecord(ctx, loginKind, key)
	if errors.Is(err, store.ErrNotFound) {
		c.message(g, http.StatusBadRequest, "console.loginExpired", "")
		return
	} else if err != nil {
		c.fail(g, "read login", err)
		return
	}
	if err := c.store.DeleteRecord(ctx, loginKind, key); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.fail(g, "spend login", err)
		return
	}
	var ls loginState
	if err := json.Unmarshal(rec.Value, &ls); err != nil {
		c.fail(g, "decode login", err)
		return
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {g.Query("code")},
		"redirect_uri": {c.url("/admin/callback")}, "client_id": {c.opts.ClientID}, "code_verifier": {ls.Verifier}}
	status, body := c.call(g, http.MethodPost, "/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Error       string `json:"error"`
	}
	if err := json.Unmarshal(body, &tok); err != nil || status != http.StatusOK || tok.AccessToken == "" {
		c.message(g, http.StatusForbidden, "console.loginFailed", tok.Error)
		return
	}
	// The ID token comes from this process's own token endpoint, not over
	// a network: its claims are read, its signature was made here.
	idt, err := jwt.ParseSigned(tok.IDToken, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256})
	var cl struct {
		Subject  string `json:"sub"`
		Nonce    string `json:"nonce"`
		AuthTime int64  `json:"auth_time"`
	}
	if err != nil || idt.UnsafeClaimsWithoutVerification(&cl) != nil || cl.Nonce != ls.Nonce {
		c.message(g, http.StatusForbidden, "console.loginFailed", "invalid id_token")
		return
	}
	// Only an administrator's token opens a session: the API says.
	if st, e := c.api(g, &sess{token: tok.AccessToken}, http.MethodGet, "/connectors", nil, nil); st != http.StatusOK {
		c.revoke(g, tok.AccessToken)
		c.message(g, http.StatusForbidden, "console.loginFailed", e.String())
		return
	}
	ttl := time.Duration(tok.ExpiresIn) * time.Second
	v, _ := json.Marshal(sessionState{UserID: cl.Subject, AuthTime: time.Unix(cl.AuthTime, 0).UTC()})
	if err := c.store.PutRecord(ctx, store.Record{Kind: sessionKind, Key: core.HashString(tok.AccessToken), Value: v,
		Expiry: c.opts.Now().Add(ttl)}); err != nil {
		c.fail(g, "open session", err)
		return
	}
	c.setCookie(g, sessionCookie, tok.AccessToken, int(ttl/time.Second), http.SameSiteStrictMode)
	g.Redirect(http.StatusSeeOther, ls.Return)
}

// session reads the request's console session; without one, a page goes
// to the login and anything else is refused. POSTs must carry the form
// token.
func (c *Console) session(h func(*gin.Context, *sess)) gin.HandlerFunc {
	return func(g *gin.Context) {
		noStore(g)
		tok, err := g.Cookie(sessionCookie)
		var s *sess
		if err == nil && tok != "" && len(tok) < 8192 {
			rec, err := c.store.GetRecord(g.Request.Context(), sessionKind, core.HashString(tok))
			switch {
			case err == nil:
				s = &sess{token: tok, csrf: csrfOf(tok)}
				if json.Unmarshal(rec.Value, &s.sessionState) != nil {
					s = nil
				}
			case !errors.Is(err, store.ErrNotFound):
				c.fail(g, "read session", err)
				return
			}
		}
		if s == nil {
			if g.Request.Method == http.MethodGet {
				g.Redirect(http.StatusSeeOther, c.path("/admin/login")+"?return="+url.QueryEscape(g.Request.URL.RequestURI()))
				return
			}
			c.message(g, http.StatusUnauthorized, "console.sessionEnded", "")
			return
		}
		if g.Request.Method == http.MethodPost && !core.ConstantEqual(g.PostForm("csrf"), s.csrf) {
			c.message(g, http.StatusForbidden, "console.csrf", "")
			return
		}
		h(g, s)
	}
}

// fresh reports whether s's login is recent enough for an action that
// changes security; if not, it sends the administrator to log in again,
// back to the page the action was on.
func (c *Console) fresh(g *gin.Context, s *sess, back string) bool {
	if c.opts.Now().Sub(s.AuthTime) <= c.opts.FreshLogin {
		return true
	}
	g.Redirect(http.StatusSeeOther, c.path("/admin/login")+"?return="+url.QueryEscape(back))
	return false
}

// logout revokes the token and ends the session.
func (c *Console) logout(g *gin.Context, s *sess) {
	c.revoke(g, s.token)
	if err := c.store.DeleteRecord(g.Request.Context(), sessionKind, core.HashString(s.token)); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.log.WarnContext(g.Request.Context(), "console: end session", "err", err)
	}
	c.setCookie(g, sessionCookie, "", -1, http.SameSiteStrictMode)
	c.message(g, http.StatusOK, "console.loggedOut", "")
}

// localPath: a return path is one of the console's own pages, never
// another site or another of Portico's pages (an open redirect, or
// /admin/../authorize): no dot segments, backslashes or control
// characters, which a browser or the router would resolve away.
func (c *Console) localPath(p string) bool {
	rest, _, _ := strings.Cut(p, "?")
	for _, seg := range strings.Split(rest, "/") {
		if seg == "." || seg == ".." || strings.Contains(strings.ToLower(seg), "%2e") {
			return false
		}
	}
	return c.Under(p) && !strings.HasPrefix(p, "//") &&
		!strings.ContainsFunc(p, func(r rune) bool { return r == '\\' || r < ' ' || r == 0x7f })
}

// errorCode is what an OAuth error code looks like (RFC 6749 §4.1.2.1):
// the only part of a failed login's callback the page shows.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

func (c *Console) setCookie(g *gin.Context, name, value string, maxAge int, same http.SameSite) {
	http.SetCookie(g.Writer, &http.Cookie{Name: name, Value: value, Path: c.path("/admin/"), MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure, SameSite: same})
}

// call sends a request to the broker in process and returns the answer's
// status and body (at most maxAnswer bytes). token, if set, is the bearer
// token. The request keeps the administrator's address, for the audit
// trail.
func (c *Console) call(g *gin.Context, method, path, ctype string, body io.Reader, token string) (int, []byte) {
	r, err := http.NewRequestWithContext(g.Request.Context(), method, c.path(path), body)
	if err != nil {
		return http.StatusInternalServerError, nil
	}
	r.RemoteAddr = g.Request.RemoteAddr
	if xff := g.Request.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		r.Header["X-Forwarded-For"] = xff
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := &recorder{header: http.Header{}, status: http.StatusOK}
	c.broker.ServeHTTP(w, r)
	return w.status, w.body.Bytes()
}

// api calls the admin API at path (below /admin/v1) with s's token; v,
// if not nil, is sent as JSON. out, if not nil, receives the answer.
func (c *Console) api(g *gin.Context, s *sess, method, path string, v, out any) (int, apiError) {
	var body io.Reader
	ctype := ""
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return http.StatusInternalServerError, apiError{Code: "encode", Description: err.Error()}
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	status, raw := c.call(g, method, "/admin/v1"+path, ctype, body, s.token)
	var e apiError
	if status >= 300 {
		json.Unmarshal(raw, &e)
		return status, e
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return http.StatusBadGateway, apiError{Code: "decode", Description: err.Error()}
		}
	}
	return status, e
}

// apiError is the admin API's error object.
type apiError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e apiError) String() string {
	if e.Description == "" {
		return e.Code
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Description)
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (w *recorder) Header() http.Header { return w.header }
func (w *recorder) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}
func (w *recorder) Write(b []byte) (int, error) {
	w.wrote = true
	if w.body.Len()+len(b) > maxAnswer {
		return 0, errors.New("console: answer too large")
	}
	return w.body.Write(b)
}

// revoke revokes an access token at the revocation endpoint, in process.
func (c *Console) revoke(g *gin.Context, token string) {
	form := url.Values{"token": {token}, "client_id": {c.opts.ClientID}}
	if st, _ := c.call(g, http.MethodPost, "/revoke", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), ""); st != http.StatusOK {
		c.log.WarnContext(g.Request.Context(), "console: revoke token", "status", st)
	}
}
