package dpop

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Refusal is why a protected resource refuses a request, in the terms of
// RFC 6750 §3 and RFC 9449 §7.1.
type Refusal struct {
	// Status is 401; 400 for invalid_request; 503 when the server could
	// not decide (Err).
	Status int
	// Code and Description are error and error_description; an empty
	// Code means no credentials were sent (no error code, §3.1).
	Code, Description string
	// DPoP: the challenge goes in the DPoP scheme (the request used it,
	// or presented a bound token as Bearer).
	DPoP bool
	// Err is the server's own failure, for its log.
	Err error
}

func (f *Refusal) Error() string {
	switch {
	case f.Err != nil:
		return "dpop: " + f.Err.Error()
	case f.Code == "":
		return "no access token"
	}
	return f.Code + ": " + f.Description
}

// TokenCheck verifies an access token as the resource server sees fit
// (signature or record, expiry, revocation) and returns the thumbprint of
// the key it is bound to (its cnf.jkt), "" if none. An error that is a
// *Refusal refuses the request with it (its Code, invalid_token, and
// Description); any other is the server's failure.
type TokenCheck func(ctx context.Context, token string) (jkt string, err error)

// Authorize applies RFC 6750 §2.1 and RFC 9449 §7 to a request for url
// (its absolute URL as the client sent it; the query is ignored): one
// Authorization header, Bearer or DPoP; check's verdict on the token; a
// bound token only with the DPoP scheme and a proof of its key for this
// request and token, an unbound one only as Bearer. Another scheme is no
// credentials. It returns nil when the request may go on.
func (v *Verifier) Authorize(r *http.Request, url string, check TokenCheck) *Refusal {
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 || hs[0] == "" {
		return &Refusal{Status: http.StatusUnauthorized}
	}
	if len(hs) > 1 { // which one counts would be a guess
		return &Refusal{Status: http.StatusBadRequest, Code: "invalid_request", Description: "more than one Authorization header"}
	}
	scheme, tok, _ := strings.Cut(hs[0], " ")
	tok = strings.TrimSpace(tok)
	isDPoP := strings.EqualFold(scheme, Scheme)
	switch {
	case !isDPoP && !strings.EqualFold(scheme, "Bearer"):
		return &Refusal{Status: http.StatusUnauthorized}
	case tok == "" || strings.ContainsAny(tok, " \t"):
		return &Refusal{Status: http.StatusBadRequest, Code: "invalid_request", Description: "malformed Authorization header", DPoP: isDPoP}
	}
	jkt, err := check(r.Context(), tok)
	var f *Refusal
	switch {
	case errors.As(err, &f):
		return &Refusal{Status: http.StatusUnauthorized, Code: f.Code, Description: f.Description, DPoP: isDPoP}
	case err != nil:
		return &Refusal{Status: http.StatusServiceUnavailable, Err: err}
	case !isDPoP && jkt != "":
		// §7.2: without the key, a bound token is worth nothing.
		return &Refusal{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof", DPoP: true}
	case !isDPoP:
		return nil
	case jkt == "":
		return &Refusal{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "the access token is not DPoP-bound: send it with the Bearer scheme", DPoP: true}
	}
	proof, err := v.Verify(r.Context(), r.Header.Values(Header), Request{Method: r.Method, URL: url, AccessToken: tok})
	refuse := func(code, desc string) *Refusal {
		return &Refusal{Status: http.StatusUnauthorized, Code: code, Description: desc, DPoP: true}
	}
	switch {
	case errors.Is(err, ErrNoProof):
		return refuse("invalid_dpop_proof", "a DPoP proof is required")
	case errors.Is(err, ErrUseNonce):
		return refuse("use_dpop_nonce", err.Error())
	case errors.Is(err, ErrInvalidProof):
		return refuse("invalid_dpop_proof", err.Error())
	case err != nil:
		return &Refusal{Status: http.StatusServiceUnavailable, Err: err}
	case proof.JKT != jkt:
		return refuse("invalid_token", "the DPoP proof's key is not the one the access token is bound to")
	}
	return nil
}

// WriteChallenge sets WWW-Authenticate for f on h, and a fresh DPoP-Nonce
// when v asks for nonces: both schemes when no credentials were sent,
// else the one f names. A 503 gets none.
func (v *Verifier) WriteChallenge(h http.Header, realm string, f *Refusal) {
	if f.Status == http.StatusServiceUnavailable {
		return
	}
	bearer := `Bearer realm="` + realm + `"`
	switch {
	case f.Code == "":
		h.Add("WWW-Authenticate", bearer)
		h.Add("WWW-Authenticate", v.Challenge(realm, "", ""))
	case f.DPoP:
		h.Add("WWW-Authenticate", v.Challenge(realm, f.Code, f.Description))
	default:
		h.Add("WWW-Authenticate", bearer+`, error="`+f.Code+`", error_description="`+quoteSafe(f.Description)+`"`)
	}
	if v.Nonces != nil && (f.DPoP || f.Code == "") {
		h.Set(NonceHeader, v.Nonces.Current())
	}
}
