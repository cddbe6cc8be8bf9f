package core

import (
	"context"
	"errors"
	"net/http"
	"net/url"

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

// AuthFailure is why ResourceAuth refused a request (dpop.Refusal: the
// rules are RFC 6750's and RFC 9449's, shared with tokensvc/rs).
type AuthFailure = dpop.Refusal

// Check returns the access of r's token, or why r is refused.
func (ra *ResourceAuth) Check(r *http.Request) (tokensvc.Access, *AuthFailure) {
	var a tokensvc.Access
	htu := ra.Issuer.Scheme + "://" + ra.Issuer.Host + r.URL.EscapedPath()
	f := ra.DPoP.Authorize(r, htu, func(ctx context.Context, tok string) (string, error) {
		var err error
		if a, err = ra.Tokens.VerifyAccess(ctx, tok); errors.Is(err, tokensvc.ErrInvalidToken) {
			return "", &AuthFailure{Code: "invalid_token", Description: "the access token is invalid or expired"}
		}
		return a.JKT, err
	})
	if f != nil {
		return tokensvc.Access{}, f
	}
	return a, nil
}

// Challenge sets WWW-Authenticate (and DPoP-Nonce) for f on h. With no
// credentials sent, both schemes are offered.
func (ra *ResourceAuth) Challenge(h http.Header, f *AuthFailure) {
	ra.DPoP.WriteChallenge(h, ra.Realm, f)
}

// Forbidden sets the insufficient_scope challenge (RFC 6750 §3.1) in the
// scheme a's token is used with, naming scope if set.
func (ra *ResourceAuth) Forbidden(h http.Header, a tokensvc.Access, desc, scope string) {
	v := `Bearer realm="` + ra.Realm + `", error="insufficient_scope"`
	if a.JKT != "" {
		v = dpop.Scheme + ` realm="` + ra.Realm + `", error="insufficient_scope"`
	}
	if desc != "" {
		v += `, error_description="` + Description(desc) + `"`
	}
	if scope != "" {
		v += `, scope="` + scope + `"`
	}
	h.Set("WWW-Authenticate", v)
}
