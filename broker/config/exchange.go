package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// GrantTokenExchange is the grant type of OAuth 2.0 Token Exchange (RFC
// 8693); a client lists it in grant_types and says in token_exchange what
// it may exchange.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// TokenExchange configures the external issuers whose tokens clients may
// exchange for Portico access tokens (docs/tokens.md#token-exchange).
type TokenExchange struct {
	// Issuers are the external issuers; each client says which it trusts
	// in its own `token_exchange`.
	Issuers []ExchangeIssuer `yaml:"issuers"`
}

// ExchangeIssuer is one trusted external issuer: a Kubernetes cluster, a
// CI system, another Portico.
type ExchangeIssuer struct {
	// Name is how clients' `token_exchange.issuers` refer to it: up to 64
	// characters, no spaces, unique.
	Name string `yaml:"name"`
	// Issuer is the exact `iss` of its tokens; `https`, or `http` on a
	// loopback host.
	Issuer string `yaml:"issuer"`
	// JWKSURI is its JWKS. Empty: read from `issuer` +
	// `/.well-known/openid-configuration`, whose `issuer` must match.
	// Same URL rules. Redirects are not followed.
	JWKSURI string `yaml:"jwks_uri"`
	// Audiences: a token must name at least one of them in `aud`.
	Audiences []string `yaml:"audiences"`
	// Algorithms are the accepted signature algorithms, of `RS256 RS384
	// RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA`.
	Algorithms []string `yaml:"algorithms"`
	// MaxTokenAge refuses a token issued (`iat`) longer ago, even if not
	// expired. At most `168h`.
	MaxTokenAge Duration `yaml:"max_token_age"`
	// RequiredClaims are claims a token must carry, by path, each with
	// the values accepted: each claim must be a string (or number) equal
	// to one of the values; a value ending in `*` matches any value
	// starting with the rest. A path's segments are split at `/`
	// (`kubernetes.io/namespace`); `~1` is a `/` and `~0` a `~` inside a
	// name, as in JSON Pointer.
	RequiredClaims map[string][]string `yaml:"required_claims"`
	// Subject is who the issued token is about; exactly one of its fields.
	Subject ExchangeSubject `yaml:"subject"`
}

// ExchangeSubject maps a verified external token to the subject of the
// Portico token; set exactly one field.
type ExchangeSubject struct {
	// Template builds the subject from claims, `{path}` standing for a
	// claim's value
	// (`"system:serviceaccount:{kubernetes.io/namespace}:{kubernetes.io/serviceaccount/name}"`,
	// `"github:{repository}"`), claim values percent-encoded where they
	// hold `%` or the template's separators (see
	// [tokens](tokens.md#token-exchange)), the result 1–255 bytes without
	// controls and never an existing user's or any client's id.
	Template string `yaml:"template"`
	// UserEmailClaim is a claim path holding an email: the token is then
	// about the one Portico user with an identity of that verified email,
	// and must carry `email_verified: true` (or the string `"true"`,
	// which some issuers send).
	UserEmailClaim string `yaml:"user_email_claim"`
	// Client, `true`, makes the token about the exchanging client itself.
	Client bool `yaml:"client"`
}

// ClientExchange is what one client may exchange.
type ClientExchange struct {
	// Issuers are names of top-level `token_exchange.issuers` whose
	// tokens it may present.
	Issuers []string `yaml:"issuers"`
	// Delegation lets it exchange users' Portico access tokens whose
	// `aud` names it for narrower ones, or, with `delegation_from`, that
	// were issued to those clients.
	Delegation bool `yaml:"delegation"`
	// DelegationFrom are the client ids whose users' tokens it may
	// exchange, with `delegation`.
	DelegationFrom []string `yaml:"delegation_from"`
	// Audiences are the `audience`/`resource` values it may ask for (at
	// most 100, each 1–255 characters).
	Audiences []string `yaml:"audiences"`
}

// Exchange defaults and bounds.
const (
	DefaultExchangeMaxTokenAge = time.Hour
	maxExchangeList            = 100
)

// ExchangeAlgorithms are the signature algorithms an external issuer may use.
var ExchangeAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// DefaultExchangeAlgorithms are an issuer's algorithms unless set.
var DefaultExchangeAlgorithms = []string{"RS256", "ES256"}

func (t *TokenExchange) applyDefaults() {
	for i := range t.Issuers {
		is := &t.Issuers[i]
		if len(is.Algorithms) == 0 {
			is.Algorithms = slices.Clone(DefaultExchangeAlgorithms)
		}
		if is.MaxTokenAge == 0 {
			is.MaxTokenAge = Duration(DefaultExchangeMaxTokenAge)
		}
	}
}

// checkFetchURL accepts https, or http on loopback (tests, a sidecar).
func checkFetchURL(raw string) string { return CheckFetchURL(raw) }

// CheckFetchURL reports what is wrong with a URL Portico fetches keys from.
func CheckFetchURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.User != nil || u.Fragment != "":
		return "must be an absolute URL without credentials or fragment"
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "must be https (http only on " + loopbackHosts + ")"
	}
	return ""
}

// CheckClaimTemplate reports what is wrong with a subject template.
func CheckClaimTemplate(t string) string {
	for rest := t; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			break
		}
		if rest[i] == '}' {
			return "unbalanced }"
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "unbalanced {"
		}
		if name := rest[i+1 : i+j]; name == "" || strings.ContainsAny(name, "{") {
			return "empty or nested {}"
		}
		rest = rest[i+j+1:]
	}
	return ""
}

func (c *Config) validateExchange(v *validator) {
	names := map[string]bool{}
	if len(c.TokenExchange.Issuers) > maxExchangeList {
		v.add("token_exchange.issuers", "at most %d", maxExchangeList)
	}
	for i, is := range c.TokenExchange.Issuers {
		p := fmt.Sprintf("token_exchange.issuers[%d]", i)
		switch {
		case is.Name == "" || len(is.Name) > 64 || strings.ContainsFunc(is.Name, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			v.add(p+".name", "required: up to 64 characters without spaces or controls")
		case names[is.Name]:
			v.add(p+".name", "duplicate issuer name %q", is.Name)
		}
		names[is.Name] = true
		if msg := checkFetchURL(is.Issuer); msg != "" {
			v.add(p+".issuer", "%s", msg)
		}
		if is.JWKSURI != "" {
			if msg := checkFetchURL(is.JWKSURI); msg != "" {
				v.add(p+".jwks_uri", "%s", msg)
			}
		}
		if len(is.Audiences) == 0 {
			// Without an audience a token meant for any other service
			// of that issuer would do.
			v.add(p+".audiences", "at least one is required")
		}
		for j, a := range is.Audiences {
			if a == "" {
				v.add(fmt.Sprintf("%s.audiences[%d]", p, j), "must not be empty")
			}
		}
		for j, a := range is.Algorithms {
			if !slices.Contains(ExchangeAlgorithms, a) {
				v.add(fmt.Sprintf("%s.algorithms[%d]", p, j), "unsupported algorithm %q (supported: %s)", a, strings.Join(ExchangeAlgorithms, ", "))
			}
		}
		if is.MaxTokenAge < 0 || is.MaxTokenAge.Std() > 7*24*time.Hour {
			v.add(p+".max_token_age", "must be between 0 and 168h")
		}
		for path, vals := range is.RequiredClaims {
			if path == "" || len(vals) == 0 {
				v.add(p+".required_claims", "claim %q needs a name and at least one value", path)
			}
		}
		s := is.Subject
		set := 0
		for _, b := range []bool{s.Template != "", s.UserEmailClaim != "", s.Client} {
			if b {
				set++
			}
		}
		if set != 1 {
			v.add(p+".subject", "set exactly one of template, user_email_claim, client")
		}
		if s.Template != "" {
			if msg := CheckClaimTemplate(s.Template); msg != "" {
				v.add(p+".subject.template", "%s", msg)
			}
		}
	}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		has := slices.Contains(cl.GrantTypes, GrantTokenExchange)
		x := cl.TokenExchange
		switch {
		case has && x == nil:
			v.add(p+".token_exchange", "required with grant type %s: what the client may exchange", GrantTokenExchange)
		case !has && x != nil:
			v.add(p+".grant_types", "token_exchange is set: add %s", GrantTokenExchange)
		}
		if x == nil {
			continue
		}
		if cl.Public {
			v.add(p+".token_exchange", "a public client cannot exchange tokens")
		}
		if len(x.Issuers) == 0 && !x.Delegation {
			v.add(p+".token_exchange", "allows nothing: list issuers or set delegation")
		}
		for j, n := range x.Issuers {
			if !names[n] {
				v.add(fmt.Sprintf("%s.token_exchange.issuers[%d]", p, j), "no token_exchange issuer named %q", n)
			}
		}
		if len(x.DelegationFrom) > 0 && !x.Delegation {
			v.add(p+".token_exchange.delegation_from", "needs delegation: true")
		}
		if len(x.Audiences) > maxExchangeList || len(x.DelegationFrom) > maxExchangeList {
			v.add(p+".token_exchange", "at most %d audiences and %d delegation_from", maxExchangeList, maxExchangeList)
		}
		for j, a := range x.Audiences {
			if a == "" || len(a) > 255 || strings.ContainsFunc(a, func(r rune) bool { return r < ' ' || r == 0x7f }) {
				v.add(fmt.Sprintf("%s.token_exchange.audiences[%d]", p, j), "must be 1 to 255 characters without controls")
			}
		}
	}
}
