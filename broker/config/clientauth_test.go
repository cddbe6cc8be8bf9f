package config

import (
	"strings"
	"testing"
)

// An Ed25519 public key, as a client publishes it.
const edJWK = `{kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, kid: k1}`

// TestClientAuthConfig: token_endpoint_auth_method, jwks and jwks_uri are
// checked against each other and the secret, each error under its path.
func TestClientAuthConfig(t *testing.T) {
	client := func(fields string) string {
		return head + "clients:\n  - {id: app, grant_types: [client_credentials], " + fields + "}\n"
	}
	good := []string{
		client("token_endpoint_auth_method: private_key_jwt, jwks: {keys: [" + edJWK + "]}"),
		client("token_endpoint_auth_method: private_key_jwt, jwks_uri: https://app.example.com/jwks"),
		client("token_endpoint_auth_method: private_key_jwt, jwks_uri: http://127.0.0.1:8080/jwks"),
		client("token_endpoint_auth_method: client_secret_jwt, secret: " + strings.Repeat("s", 32)),
		client("token_endpoint_auth_method: client_secret_post, secret: s"),
		// Pushed and signed authorization requests.
		client("token_endpoint_auth_method: private_key_jwt, jwks_uri: https://a.example/j, require_signed_request_object: true, require_pushed_authorization_requests: true"),
		client("secret: s, require_pushed_authorization_requests: true"),
	}
	for i, src := range good {
		cfg, err := Parse([]byte(src))
		if err != nil {
			t.Errorf("good[%d]: %v", i, err)
		} else if i == 0 && cfg.Clients[0].JWKS == nil {
			t.Errorf("jwks not decoded")
		}
	}
	for _, tc := range []struct{ name, src, want string }{
		{"unknown method", client("token_endpoint_auth_method: tls_client_auth, secret: s"), "clients[0].token_endpoint_auth_method: unsupported method"},
		{"none for confidential", client("token_endpoint_auth_method: none, secret: s"), "clients[0].token_endpoint_auth_method: none is for a public client"},
		{"keys missing", client("token_endpoint_auth_method: private_key_jwt"), "clients[0].jwks: private_key_jwt needs jwks or jwks_uri"},
		{"secret and keys", client("token_endpoint_auth_method: private_key_jwt, secret: s, jwks_uri: https://a.example/j"), "clients[0].secret: a private_key_jwt client authenticates with its keys"},
		{"both", client("token_endpoint_auth_method: private_key_jwt, jwks: {keys: [" + edJWK + "]}, jwks_uri: https://a.example/j"), "clients[0].jwks_uri: set only one of jwks and jwks_uri"},
		{"http off loopback", client("token_endpoint_auth_method: private_key_jwt, jwks_uri: http://a.example/j"), "clients[0].jwks_uri: must be https"},
		{"keys without the method", client("secret: s, jwks_uri: https://a.example/j"), "clients[0].jwks_uri: only for token_endpoint_auth_method private_key_jwt"},
		{"private key", client(`token_endpoint_auth_method: private_key_jwt, jwks: {keys: [{kty: oct, k: c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0}]}`), "clients[0].jwks: keys[0]: must be a public key"},
		{"not a set", client("token_endpoint_auth_method: private_key_jwt, jwks: {key: 1}"), "clients[0].jwks: not a JWK Set"},
		{"short HMAC secret", client("token_endpoint_auth_method: client_secret_jwt, secret: short"), "clients[0].secret: client_secret_jwt needs a secret of at least 32 bytes"},
		{"HMAC secret hashed", client("token_endpoint_auth_method: client_secret_jwt, secret_hash: \"sha256:x\""), "clients[0].secret_hash: client_secret_jwt needs secret in clear"},
		{"signed requests without keys", client("secret: s, require_signed_request_object: true"), "clients[0].require_signed_request_object: needs token_endpoint_auth_method private_key_jwt"},
		{"alg that does not fit", client(`token_endpoint_auth_method: private_key_jwt, jwks: {keys: [{kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, alg: RS256}]}`), "clients[0].jwks: keys[0]: alg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}
