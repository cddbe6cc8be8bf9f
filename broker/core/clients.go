package core

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// CheckClientKeys checks a client's method against its keys, and returns
// the JWK Set compacted for the store; the message names the field.
func CheckClientKeys(method string, jwks json.RawMessage, jwksURI string) (json.RawMessage, string) {
	hasJWKS := len(jwks) > 0 && !bytes.Equal(bytes.TrimSpace(jwks), []byte("null"))
	switch {
	case method == config.AuthPrivateKeyJWT && !hasJWKS && jwksURI == "":
		return nil, "private_key_jwt needs jwks or jwks_uri"
	case method != config.AuthPrivateKeyJWT && (hasJWKS || jwksURI != ""):
		return nil, "jwks and jwks_uri are only for token_endpoint_auth_method private_key_jwt"
	case hasJWKS && jwksURI != "":
		return nil, "jwks and jwks_uri must not both be given (RFC 7591 §2)"
	case jwksURI != "":
		if msg := config.CheckJWKSURI(jwksURI); msg != "" {
			return nil, "jwks_uri: " + msg
		}
		return nil, ""
	case !hasJWKS:
		return nil, ""
	}
	var buf bytes.Buffer
	if len(jwks) > config.MaxJWKSBytes || json.Compact(&buf, jwks) != nil {
		return nil, "jwks: not a JWK Set of at most 64 KiB"
	}
	if msg := config.CheckJWKS(buf.Bytes()); msg != "" {
		return nil, "jwks: " + msg
	}
	return buf.Bytes(), ""
}

// NewSecretFor gives rec a new secret and returns it. A client_secret_jwt
// client's is long enough for HS512 (64 bytes) and kept in clear, as HMAC
// verification needs it.
func NewSecretFor(rec *store.Client) string {
	secret := NewClientSecret()
	if rec.AuthMethod == config.AuthSecretJWT {
		secret += tokensvc.NewID()
		rec.JWTSecret = secret
	}
	rec.SecretHash = HashClientSecret(secret)
	return secret
}

// BearerToken extracts an RFC 6750 §2.1 bearer token; ok is false when the
// header is absent or malformed.
func BearerToken(h string) (string, bool) {
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" || strings.ContainsAny(tok, " \t") {
		return "", false
	}
	return tok, true
}

// AdminPolicy is who may administer Portico: the clients the
// configuration marks admin, and the users holding Role.
type AdminPolicy struct {
	Clients []string
	Role    string // "admin" when empty
}

// IsClient reports whether the configuration trusts client for
// administration. Only the file's list counts: a client created at runtime
// (admin API, dynamic registration) is never one, whatever its scopes.
func (p AdminPolicy) IsClient(clientID string) bool { return slices.Contains(p.Clients, clientID) }

// IsUser reports whether user holds the role that grants the API.
func (p AdminPolicy) IsUser(user store.User) bool {
	return !user.Disabled && slices.Contains(user.Roles, cmp.Or(p.Role, "admin"))
}

// NewClientID returns a random client id config.CheckClientID accepts:
// tokensvc.NewID's base64url may start with '-' or '_', which the rule
// refuses, so such a draw (one in 32) is drawn again.
func NewClientID() string {
	for {
		if id := tokensvc.NewID(); config.CheckClientID(id) == "" {
			return id
		}
	}
}
