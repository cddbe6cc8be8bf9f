package core

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-idp/portico/tokensvc"
	"github.com/portico-idp/portico/tokensvc/dpop"
)

// ResourceAuth checks the access token of a request to one of Portico's
// own protected endpoints (userinfo, the admin API), as a resource server
// would: a Bearer token (RFC 6750), or a DPoP-bound token with its proof
// (RFC 9449 §7). A bound token never passes as a Bearer token, and an
// unbound one never with the DPoP scheme. What the token may do there
// (audience, client, scope) is the endpoint's to decide.
type ResourceAuth struct {
	Tokens interface {
		VerifyAccess(ctx context.Context, token string) (tokensvc.Access, error)
	}
	DPoP   *dpop.Verifier
	Issuer *url.URL // its scheme and host, with the request's path, are the htu
	Realm  string
}

// AuthFailure is why ResourceAuth refused a request. Status is 401, or
// 503 when the server could not decide; Code and Desc are RFC 6750 §3's
// error and error_description ("" Code: no credentials were sent, §3.1).
type AuthFailure struct {
	Status     int
	Code, Desc string
	// DPoP: the challenge is in the DPoP scheme (the request used it, or
	// presented a bound token as Bearer); Nonce: send a fresh DPoP-Nonce.
	DPoP, Nonce bool
	// Err is the server's own failure (Status 503), for its log.
	Err error
}

// Check returns the access of r's token, or why r is refused.
func (ra *ResourceAuth) Check(r *http.Request) (tokensvc.Access, *AuthFailure) {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 || hs[0] == "" {
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized}
	}
	if len(hs) > 1 { // which one counts would be a guess
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusBadRequest, Code: "invalid_request", Desc: "more than one Authorization header"}
	}
	h := hs[0]
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	isDPoP := strings.EqualFold(scheme, dpop.Scheme)
	switch {
	case !isDPoP && !strings.EqualFold(scheme, "Bearer"):
		// Another scheme (Basic, ...) is no credential here: the plain
		// challenge, without an error code (RFC 6750 §3.1).
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized}
	case tok == "" || strings.ContainsAny(tok, " \t"):
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusBadRequest, Code: "invalid_request", Desc: "malformed Authorization header", DPoP: isDPoP}
	}
	a, err := ra.Tokens.VerifyAccess(r.Context(), tok)
	if errors.Is(err, tokensvc.ErrInvalidToken) {
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_token", Desc: "the access token is invalid or expired", DPoP: isDPoP}
	} else if err != nil {
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusServiceUnavailable, Err: err}
	}
	switch {
	case !isDPoP && a.JKT != "":
		// §7.2: without the key, a bound token is worth nothing.
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_token",
			Desc: "the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof", DPoP: true}
	case !isDPoP:
		return a, nil
	case a.JKT == "":
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_token",
			Desc: "the access token is not DPoP-bound: send it with the Bearer scheme", DPoP: true}
	}
	htu := ra.Issuer.Scheme + "://" + ra.Issuer.Host + r.URL.EscapedPath()
	proof, err := ra.DPoP.Verify(r.Context(), r.Header.Values(dpop.Header), dpop.Request{Method: r.Method, URL: htu, AccessToken: tok})
	switch {
	case errors.Is(err, dpop.ErrNoProof):
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Desc: "a DPoP proof is required", DPoP: true}
	case errors.Is(err, dpop.ErrUseNonce):
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "use_dpop_nonce", Desc: err.Error(), DPoP: true, Nonce: true}
	case errors.Is(err, dpop.ErrInvalidProof):
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_dpop_proof", Desc: err.Error(), DPoP: true}
	case err != nil:
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusServiceUnavailable, Err: err}
	case proof.JKT != a.JKT:
		return tokensvc.Access{}, &AuthFailure{Status: http.StatusUnauthorized, Code: "invalid_token", Desc: "the DPoP proof's key is not the one the access token is bound to", DPoP: true}
	}
	return a, nil
}

// Challenge sets WWW-Authenticate (and DPoP-Nonce) for f on h. With no
// credentials sent, both schemes are offered.
func (ra *ResourceAuth) Challenge(h http.Header, f *AuthFailure) {
	if f.Status == http.StatusServiceUnavailable {
		return
	}
	bearer := `Bearer realm="` + ra.Realm + `"`
	if f.Code == "" {
		h.Add("WWW-Authenticate", bearer)
		h.Add("WWW-Authenticate", ra.DPoP.Challenge(ra.Realm, "", ""))
		return
	}
	if f.DPoP {
		h.Add("WWW-Authenticate", ra.DPoP.Challenge(ra.Realm, f.Code, f.Desc))
	} else {
		h.Add("WWW-Authenticate", bearer+`, error="`+f.Code+`", error_description="`+f.Desc+`"`)
	}
	if ra.DPoP.Nonces != nil && (f.Nonce || f.DPoP) {
		h.Set(dpop.NonceHeader, ra.DPoP.Nonces.Current())
	}
}

// Forbidden sets the insufficient_scope challenge (RFC 6750 §3.1) in the
// scheme a's token is used with, naming scope if set.
func (ra *ResourceAuth) Forbidden(h http.Header, a tokensvc.Access, desc, scope string) {
	v := `Bearer realm="` + ra.Realm + `", error="insufficient_scope"`
	if a.JKT != "" {
		v = dpop.Scheme + ` realm="` + ra.Realm + `", error="insufficient_scope"`
	}
	if desc != "" {
		v += `, error_description="` + desc + `"`
	}
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	h.Set("WWW-Authenticate", v)
}
