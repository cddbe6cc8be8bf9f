package broker

// JWT client authentication in dynamic registration (RFC 7591 §2:
// token_endpoint_auth_method, jwks, jwks_uri) and in the admin API.

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// checkClientKeys checks a client's method against its keys, and returns
// the JWK Set compacted for the store; the message names the field.
func checkClientKeys(method string, jwks json.RawMessage, jwksURI string) (json.RawMessage, string) {
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

// checkAuthMetadata sets rec's authentication from registered metadata.
func checkAuthMetadata(m *clientMetadata, rec *store.Client) *regError {
	jwks, msg := checkClientKeys(m.TokenEndpointAuthMethod, m.JWKS, m.JWKSURI)
	if msg != "" {
		return badMetadata(msg)
	}
	rec.AuthMethod, rec.JWKS, rec.JWKSURI = m.TokenEndpointAuthMethod, jwks, m.JWKSURI
	return nil
}

// newSecretFor gives rec a new secret and returns it. A client_secret_jwt
// client's is long enough for HS512 (64 bytes) and kept in clear, as HMAC
// verification needs it.
func newSecretFor(rec *store.Client) string {
	secret := core.NewClientSecret()
	if rec.AuthMethod == config.AuthSecretJWT {
		secret += tokensvc.NewID()
		rec.JWTSecret = secret
	}
	rec.SecretHash = core.HashClientSecret(secret)
	return secret
}

// keepSecret carries an updated client's clear secret over, refusing a
// method the client's secret (or its lack) cannot serve.
func keepSecret(old store.Client, rec *store.Client) *regError {
	switch {
	case rec.Public:
	case rec.AuthMethod == config.AuthSecretJWT && old.JWTSecret == "":
		return badMetadata("token_endpoint_auth_method cannot change to client_secret_jwt: the secret is kept only hashed; register anew")
	case config.AuthMethodUsesSecret(rec.AuthMethod) && old.SecretHash == "":
		return badMetadata("token_endpoint_auth_method cannot change to a secret method: this client has no secret")
	case rec.AuthMethod == config.AuthSecretJWT:
		rec.JWTSecret = old.JWTSecret
	}
	return nil
}

// authInfo adds a registered client's keys to its metadata.
func authInfo(cl store.Client, h gin.H) {
	if len(cl.JWKS) > 0 {
		h["jwks"] = cl.JWKS
	}
	if cl.JWKSURI != "" {
		h["jwks_uri"] = cl.JWKSURI
	}
}

// adminClientAuth sets c's authentication from the admin API's client v:
// the method defaults as it always did (a secret, or none when public).
func adminClientAuth(v adminClient, c *store.Client) error {
	m := v.TokenEndpointAuthMethod
	switch {
	case m == "":
	case !slices.Contains(config.AuthMethods, m):
		return errors.New("token_endpoint_auth_method: unsupported (client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none)")
	case (m == config.AuthNone) != c.Public:
		return errors.New("token_endpoint_auth_method: none goes with public: true, and only with it")
	}
	jwks, msg := checkClientKeys(m, v.JWKS, v.JWKSURI)
	if msg != "" {
		return errors.New(msg)
	}
	c.AuthMethod, c.JWKS, c.JWKSURI = m, jwks, v.JWKSURI
	return nil
}
