package protocol

// Signed request objects (RFC 9101, JAR; OpenID Connect Core §6.1): the
// authorization request as a JWT the client signed with one of its keys
// (jwks or jwks_uri, as for private_key_jwt), passed by value in
// `request` at /authorize or at /par. When one is present the request's
// parameters are the object's alone (RFC 9101 §6.3): whatever else the
// query says is ignored, so that nobody can change a signed request by
// adding to its URL. Encrypted objects (JWE) are refused.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
)

const (
	// maxRequestObjectBytes bounds a request object; every parameter it
	// may carry is bounded far below this (authorize.go).
	maxRequestObjectBytes = 32 << 10
	// RequestObjectMaxLifetime is the longest a request object may live:
	// its exp at most this far after now (and after its nbf or iat).
	RequestObjectMaxLifetime = time.Hour
	// requestObjectLeeway is the clock skew allowed on exp, nbf and iat.
	requestObjectLeeway = time.Minute
	// maxObjectParams bounds the members of an object's payload.
	maxObjectParams = 64
)

// requestObjectAlgs are the algorithms a request object may be signed
// with: private_key_jwt's, never "none" nor HMAC.
var requestObjectAlgs = privateKeyAlgs

// registeredClaims are the JWT's own claims, not authorization parameters.
var registeredClaims = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// objectTypes are the typ headers a request object may have (RFC 9101
// §4 recommends oauth-authz-req+jwt; older clients send JWT or none).
var objectTypes = []string{"", "jwt", "oauth-authz-req+jwt", "application/oauth-authz-req+jwt"}

// objectError is a refused request object: invalid_request_object
// (RFC 9101 §6.3), its description safe to show the client.
type objectError struct{ desc string }

func (e *objectError) Error() string { return e.desc }

func badObject(desc string) *objectError { return &objectError{desc} }

// parsedObject is a request object decoded but not yet verified.
type parsedObject struct {
	tok *jwt.JSONWebToken
	alg string
	kid string
}

// parseRequestObject decodes raw and checks what can be checked before
// its signature: the size, compact JWS (not JWE), one signature, a
// supported algorithm and type.
func parseRequestObject(raw string) (*parsedObject, *objectError) {
	if len(raw) > maxRequestObjectBytes {
		return nil, badObject("the request object is larger than " + strconv.Itoa(maxRequestObjectBytes>>10) + " KiB")
	}
	if strings.Count(raw, ".") == 4 {
		return nil, badObject("encrypted request objects are not supported")
	}
	tok, err := jwt.ParseSigned(raw, requestObjectAlgs)
	if err != nil {
		return nil, badObject("the request object is not a JWS signed with a supported algorithm (" +
			strings.Join(config.PrivateKeyJWTAlgs, ", ") + ")")
	}
	if len(tok.Headers) != 1 {
		return nil, badObject("the request object must have one signature")
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !slices.Contains(objectTypes, strings.ToLower(typ)) {
		return nil, badObject("the request object's typ must be oauth-authz-req+jwt")
	}
	return &parsedObject{tok: tok, alg: h.Algorithm, kid: h.KeyID}, nil
}

// requestObject verifies the client's request object raw and returns the
// authorization parameters it carries. queryID is the client_id sent
// beside it ("" at /par, where the client authenticated).
func (p *Server) requestObject(ctx context.Context, client store.Client, raw, queryID string) (url.Values, *objectError) {
	o, e := parseRequestObject(raw)
	if e != nil {
		return nil, e
	}
	if client.JWKSURI == "" && len(client.JWKS) == 0 {
		return nil, badObject("the client has no registered keys (jwks or jwks_uri) to verify request objects with")
	}
	if !fapiAlg(client, o.alg) {
		return nil, badObject("this client (profile fapi2) signs request objects with PS256, ES256 or EdDSA")
	}
	var (
		claims  jwt.Claims
		members map[string]json.RawMessage
	)
	ok, err := p.verifyWithClientKeys(ctx, client, &clientAssertion{tok: o.tok, alg: o.alg, kid: o.kid})
	if err != nil {
		p.log.Warn("client keys unavailable", "client_id", client.ID, "err", err)
		return nil, badObject("the client's keys could not be read")
	}
	if !ok {
		return nil, badObject("no key of the client verifies the request object's signature")
	}
	// Verified above: a claim of the wrong type is the object's fault,
	// not the signature's, and is told so.
	if o.tok.UnsafeClaimsWithoutVerification(&claims, &members) != nil {
		return nil, badObject("the request object's claims cannot be read: exp, nbf and iat must be numbers, iss a string, aud a string or an array of strings")
	}
	if desc := p.checkObjectClaims(client.ID, claims); desc != "" {
		return nil, badObject(desc)
	}
	q, e := objectParams(members)
	if e != nil {
		return nil, e
	}
	if id := q.Get("client_id"); id != client.ID || (queryID != "" && queryID != id) {
		return nil, badObject("the request object's client_id must be the client's, as in the request")
	}
	return q, nil
}

// checkObjectClaims returns what is wrong with a verified object's JWT
// claims, or "": iss is the client, aud the issuer, exp present and
// within RequestObjectMaxLifetime, nbf and iat not in the future.
func (p *Server) checkObjectClaims(id string, cl jwt.Claims) string {
	now := p.opts.Now()
	if cl.Expiry == nil {
		return "the request object must have exp"
	}
	err := cl.ValidateWithLeeway(jwt.Expected{Issuer: id, AnyAudience: jwt.Audience{p.opts.Issuer}, Time: now}, requestObjectLeeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return "the request object's iss must be the client id"
	case errors.Is(err, jwt.ErrInvalidAudience):
		return "the request object's aud must be the issuer " + p.opts.Issuer
	case errors.Is(err, jwt.ErrExpired):
		return "the request object has expired"
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return "the request object is not valid yet"
	case err != nil:
		return "the request object's claims are invalid"
	}
	exp := cl.Expiry.Time()
	if (cl.NotBefore != nil && !exp.After(cl.NotBefore.Time())) || (cl.IssuedAt != nil && !exp.After(cl.IssuedAt.Time())) {
		return "the request object's exp must come after its nbf and iat"
	}
	if exp.Sub(now) > RequestObjectMaxLifetime+requestObjectLeeway ||
		(cl.NotBefore != nil && exp.Sub(cl.NotBefore.Time()) > RequestObjectMaxLifetime) ||
		(cl.IssuedAt != nil && exp.Sub(cl.IssuedAt.Time()) > RequestObjectMaxLifetime) {
		return "the request object lives too long (exp at most " + RequestObjectMaxLifetime.String() + " ahead)"
	}
	return ""
}

// objectParams turns an object's members into authorization parameters:
// strings as they are, numbers (max_age) in decimal, booleans as
// true/false, an array of strings as a repeated parameter (resource
// only), anything else as its JSON text (parameters Portico ignores,
// such as claims). The JWT's own claims are left out.
func objectParams(members map[string]json.RawMessage) (url.Values, *objectError) {
	if len(members) > maxObjectParams {
		return nil, badObject("the request object has more than " + strconv.Itoa(maxObjectParams) + " members")
	}
	q := url.Values{}
	for name, raw := range members {
		if slices.Contains(registeredClaims, name) {
			continue
		}
		if name == "request" || name == "request_uri" { // RFC 9101 §4
			return nil, badObject("a request object must not contain " + name)
		}
		vals, ok := objectValue(name, raw)
		if !ok {
			return nil, badObject("the request object's " + quote(name) + " has the wrong type (a string; max_age may be a number, resource an array of strings)")
		}
		if len(vals) > 1 && !repeatable[name] {
			return nil, badObject("the request object's " + quote(name) + " must be a single value")
		}
		q[name] = vals
	}
	return q, nil
}

// readParams are the parameters Portico reads, each a string in a request
// object (max_age may also be a number, resource an array of strings):
// a number or an array where a string belongs is the client's mistake,
// refused, not converted.
var readParams = map[string]bool{"response_type": true, "client_id": true, "redirect_uri": true, "scope": true,
	"state": true, "nonce": true, "code_challenge": true, "code_challenge_method": true, "response_mode": true,
	"prompt": true, "max_age": true, "acr_values": true, "ui_locales": true, "login_hint": true, "id_token_hint": true,
	"resource": true, "display": true, "claims_locales": true}

// objectValue is member name's parameter values; ok is false for a
// value of the wrong type (see readParams). Parameters Portico ignores
// (claims, extensions) keep their JSON text.
func objectValue(name string, raw json.RawMessage) ([]string, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return nil, false
	}
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case json.Number:
		return []string{v.String()}, name == "max_age" || !readParams[name]
	case bool:
		return []string{strconv.FormatBool(v)}, !readParams[name]
	case []any:
		if readParams[name] && !repeatable[name] {
			return nil, false
		}
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	case map[string]any:
		return []string{string(raw)}, !readParams[name]
	}
	return nil, false
}
