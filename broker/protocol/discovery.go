package protocol

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/tokensvc"
)

// clientAuthMethods are the client authentication methods of the token,
// revocation and introspection endpoints (clientauth.go, clientjwt.go).
var clientAuthMethods = []string{"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"}

// discoveryDocument is built once: it changes only with the configuration.
// It advertises exactly what is implemented (OIDC Discovery 1.0 §3).
func (p *Server) discoveryDocument() ([]byte, error) {
	// Only algorithms with a key in the JWKS: a relying party may expect
	// tokens in any advertised one, and could not verify another.
	algs := p.tokens.Algorithms()
	doc := map[string]any{
		"issuer":                 p.opts.Issuer,
		"authorization_endpoint": p.url("/authorize"),
		"token_endpoint":         p.url("/token"),
		"userinfo_endpoint":      p.url("/userinfo"),
		"jwks_uri":               p.url("/keys"),
		"revocation_endpoint":    p.url("/revoke"),
		"introspection_endpoint": p.url("/introspect"),
		"end_session_endpoint":   p.url("/logout"),
		"revocation_endpoint_auth_methods_supported":    append(slices.Clone(clientAuthMethods), "none"), // public clients revoke their own
		"introspection_endpoint_auth_methods_supported": clientAuthMethods,
		"response_types_supported":                      []string{"code"},
		"response_modes_supported":                      []string{"query", "form_post"},
		"grant_types_supported":                         []string{"authorization_code", "refresh_token", "client_credentials", core.GrantTokenExchange, core.GrantDeviceCode},
		"subject_types_supported":                       []string{"public"},
		"id_token_signing_alg_values_supported":         algs,
		"scopes_supported":                              p.ident.ScopesSupported(),
		"token_endpoint_auth_methods_supported":         append(slices.Clone(clientAuthMethods), "none"),
		"code_challenge_methods_supported":              []string{"S256"},
		"claims_supported": append([]string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "amr", "acr", "sid",
		}, p.ident.ClaimsSupported()...),
		"acr_values_supported":    []string{tokensvc.ACRPassword, tokensvc.ACRMFA},
		"prompt_values_supported": []string{"none", "login", "consent", "select_account"},
		"ui_locales_supported":    p.ui.Offered(),
		// Request objects by value (jar.go) and pushed requests (par.go);
		// a request_uri is only ever one /par issued: Portico fetches none.
		"request_parameter_supported":                    true,
		"request_uri_parameter_supported":                false, // true when absent (OIDC Discovery §3)
		"request_object_signing_alg_values_supported":    config.PrivateKeyJWTAlgs,
		"pushed_authorization_request_endpoint":          p.url("/par"),
		"require_pushed_authorization_requests":          p.opts.RequirePushedRequests,
		"authorization_response_iss_parameter_supported": true,
		"dpop_signing_alg_values_supported":              p.dpop.SupportedAlgs(), // RFC 9449 §5.1
		// OpenID Connect Back-Channel Logout 1.0 §2.1 (backchannel.go).
		"backchannel_logout_supported":         true,
		"backchannel_logout_session_supported": true,
	}
	// JWT client authentication (clientjwt.go), at every endpoint that
	// authenticates clients.
	for _, e := range []string{"token", "revocation", "introspection"} {
		doc[e+"_endpoint_auth_signing_alg_values_supported"] = append(slices.Clone(config.PrivateKeyJWTAlgs), config.SecretJWTAlgs...)
	}
	doc["device_authorization_endpoint"] = p.url("/device/authorize") // RFC 8628 §4
	if p.opts.Registration != nil {
		doc["registration_endpoint"] = p.url("/register")
	}
	return json.Marshal(doc)
}

func (p *Server) handleDiscovery(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "application/json", p.discovery)
}

func (p *Server) handleKeys(c *gin.Context) {
	// Short caching: a relying party must see a rotated key soon.
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/jwk-set+json", p.tokens.JWKS())
}
