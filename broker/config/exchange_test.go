package config

import (
	"strings"
	"testing"
	"time"
)

// TestTokenExchangeConfig: issuers and clients' token_exchange parse with
// their defaults, and each mistake is refused at start with its path.
func TestTokenExchangeConfig(t *testing.T) {
	const issuers = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\n" +
		"token_exchange:\n  issuers:\n  - {name: k8s, issuer: \"https://k8s.example.com\", audiences: [portico], required_claims: {kubernetes.io/namespace: [ci]}, subject: {template: \"sa:{sub}\"}}\n"
	const client = "clients: [{id: svc, secret: s, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"], token_exchange: {issuers: [k8s], audiences: [orders]}}]\n"
	cfg, err := Parse([]byte(issuers + client))
	if err != nil {
		t.Fatal(err)
	}
	is := cfg.TokenExchange.Issuers[0]
	if is.MaxTokenAge.Std() != time.Hour || strings.Join(is.Algorithms, " ") != "RS256 ES256" || cfg.Clients[0].TokenExchange.Issuers[0] != "k8s" {
		t.Errorf("parsed %+v %+v", is, cfg.Clients[0].TokenExchange)
	}
	for _, tc := range []struct{ name, src, err string }{
		{"grant without token_exchange", "clients: [{id: svc, secret: s, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"]}]", "clients[0].token_exchange: required with grant type"},
		{"token_exchange without grant", "clients: [{id: svc, secret: s, grant_types: [client_credentials], token_exchange: {delegation: true}}]", "clients[0].grant_types: token_exchange is set"},
		{"unknown issuer name", "clients: [{id: svc, secret: s, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"], token_exchange: {issuers: [gh]}}]", `clients[0].token_exchange.issuers[0]: no token_exchange issuer named "gh"`},
		{"allows nothing", "clients: [{id: svc, secret: s, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"], token_exchange: {audiences: [a]}}]", "clients[0].token_exchange: allows nothing"},
		{"public client", "clients: [{id: spa, public: true, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"], token_exchange: {delegation: true}}]", "clients[0].token_exchange: a public client cannot exchange tokens"},
		{"delegation_from without delegation", "clients: [{id: svc, secret: s, grant_types: [\"urn:ietf:params:oauth:grant-type:token-exchange\"], token_exchange: {issuers: [k8s], delegation_from: [app]}}]", "clients[0].token_exchange.delegation_from: needs delegation: true"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(issuers + tc.src + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, want %q", err, tc.err)
			}
		})
	}
	const head = "issuer: https://id.example.com\nstorage: {dir: d}\nconnectors: [{id: local, type: local}]\ntoken_exchange:\n  issuers:\n  - "
	for _, tc := range []struct{ name, src, err string }{
		{"plain http issuer", `{name: a, issuer: "http://k8s.example.com", audiences: [p], subject: {client: true}}`, "token_exchange.issuers[0].issuer: must be https"},
		{"no audience", `{name: a, issuer: "https://k", subject: {client: true}}`, "token_exchange.issuers[0].audiences: at least one is required"},
		{"two subjects", `{name: a, issuer: "https://k", audiences: [p], subject: {client: true, template: x}}`, "token_exchange.issuers[0].subject: set exactly one"},
		{"no subject", `{name: a, issuer: "https://k", audiences: [p]}`, "token_exchange.issuers[0].subject: set exactly one"},
		{"broken template", `{name: a, issuer: "https://k", audiences: [p], subject: {template: "x:{sub"}}`, "token_exchange.issuers[0].subject.template: unbalanced {"},
		{"HS256", `{name: a, issuer: "https://k", audiences: [p], algorithms: [HS256], subject: {client: true}}`, `token_exchange.issuers[0].algorithms[0]: unsupported algorithm "HS256"`},
		{"jwks over http", `{name: a, issuer: "https://k", jwks_uri: "http://k/jwks", audiences: [p], subject: {client: true}}`, "token_exchange.issuers[0].jwks_uri: must be https"},
		{"claim without values", `{name: a, issuer: "https://k", audiences: [p], required_claims: {repository: []}, subject: {client: true}}`, "token_exchange.issuers[0].required_claims"},
		{"age too long", `{name: a, issuer: "https://k", audiences: [p], max_token_age: 200h, subject: {client: true}}`, "token_exchange.issuers[0].max_token_age"},
		{"misspelt field", `{name: a, issuer: "https://k", audience: [p], subject: {client: true}}`, "token_exchange.issuers[0].audience: unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(head + tc.src + "\n"))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("got %v, want %q", err, tc.err)
			}
		})
	}
}
