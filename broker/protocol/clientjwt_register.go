package protocol

// JWT client authentication in dynamic registration (RFC 7591 §2:
// token_endpoint_auth_method, jwks, jwks_uri) and in the admin API.

import (
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
