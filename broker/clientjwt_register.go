package broker

// JWT client authentication in dynamic registration (RFC 7591 §2:
// token_endpoint_auth_method, jwks, jwks_uri) and in the admin API.

import (
	"errors"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// checkAuthMetadata sets rec's authentication from registered metadata.
func checkAuthMetadata(m *clientMetadata, rec *store.Client) *regError {
	jwks, msg := core.CheckClientKeys(m.TokenEndpointAuthMethod, m.JWKS, m.JWKSURI)
	if msg != "" {
		return badMetadata(msg)
	}
	rec.AuthMethod, rec.JWKS, rec.JWKSURI = m.TokenEndpointAuthMethod, jwks, m.JWKSURI
	return nil
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
	jwks, msg := core.CheckClientKeys(m, v.JWKS, v.JWKSURI)
	if msg != "" {
		return errors.New(msg)
	}
	c.AuthMethod, c.JWKS, c.JWKSURI = m, jwks, v.JWKSURI
	return nil
}
