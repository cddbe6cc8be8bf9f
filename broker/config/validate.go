package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/connectors/local"
)

// Validate checks the configuration, after defaults, and returns every
// problem found, joined with errors.Join; each is a *FieldError.
func (c *Config) Validate() error {
	var v validator
	c.validateTop(&v)
	c.validateConnectors(&v)
	c.validateClients(&v)
	c.validateResources(&v)
	c.validateUsers(&v)
	c.validateTokens(&v)
	c.validateIdentity(&v)
	c.validateRegistration(&v)
	c.validateLogin(&v)
	c.validatePasswordPolicy(&v) // password.go
	c.validateOps(&v)
	c.validateHTTP(&v)
	c.validateExchange(&v) // exchange.go
	c.validateSCIM(&v)     // scim.go
	c.validateConnectorSigning(&v)
	c.validateMail(&v) // mail.go
	return errors.Join(v.errs...)
}

type validator struct{ errs []error }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

const loopbackHosts = "127.0.0.1, [::1], localhost"

// isLoopback reports whether host (as url.URL.Hostname returns it) is one
// of the loopback hosts plain http is allowed for.
func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

func (c *Config) validateTop(v *validator) {
	switch {
	case c.Issuer == "":
		v.add("issuer", "required")
	default:
		u, err := url.Parse(c.Issuer)
		switch {
		case err != nil:
			v.add("issuer", "not a valid URL")
		case u.Scheme != "https" && u.Scheme != "http":
			v.add("issuer", "must be an absolute http or https URL")
		case u.Host == "":
			v.add("issuer", "must have a host")
		case u.User != nil:
			v.add("issuer", "must not contain user information")
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			v.add("issuer", "http is allowed only for loopback hosts (%s); use https", loopbackHosts)
		case u.RawQuery != "" || u.ForceQuery:
			v.add("issuer", "must not have a query")
		case strings.Contains(c.Issuer, "#"):
			v.add("issuer", "must not have a fragment")
		case strings.HasSuffix(c.Issuer, "/"):
			v.add("issuer", "must not end with a slash")
		case strings.ContainsFunc(c.Issuer, func(r rune) bool { return r <= ' ' || r == 0x7f || r > 0x7e }):
			v.add("issuer", "must not contain spaces, control or non-ASCII characters")
		case checkPort(u) != "":
			v.add("issuer", "%s", checkPort(u))
		case u.RawPath != "" || strings.Contains(u.Path, "%") || slices.ContainsFunc(strings.Split(u.Path, "/"), func(seg string) bool { return seg == "." || seg == ".." }):
			// Routes are the issuer's path plus the endpoint's: one
			// spelling of the path, or two would name one route.
			v.add("issuer", "the path must be plain: no percent-encoding and no . or .. segments")
		}
	}

	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		v.add("listen", "must be host:port")
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		v.add("listen", "invalid port %q", port)
	}

	c.Storage.validate(v)
	c.validateSelfService(v)
	// The role the admin API grants: one the API could give a user.
	if f := c.Admin.Console.FreshLogin; f < 0 || f > Duration(24*time.Hour) {
		v.add("admin.console.fresh_login", "must be at most 24h (unset: 10m)")
	}
	if msg := CheckGroupName(c.Admin.Role); msg != "" {
		v.add("admin.role", "%s", msg)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "unsupported level %q (supported: debug, info, warn, error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		v.add("log.format", "unsupported format %q (supported: text, json)", c.Log.Format)
	}
}

// maxPostgresName is PostgreSQL's limit on a name (NAMEDATALEN-1 bytes);
// a longer schema name would be silently truncated, so two long names
// could share a schema.
const maxPostgresName = 63

func (s Storage) validate(v *validator) {
	switch s.Type {
	case StorageBadger:
		if s.Dir == "" {
			v.add("storage.dir", "required for the badger storage")
		}
		// Fields of the other backend would be ignored: say so rather
		// than serve from a store the operator did not mean.
		if s.DSN != "" {
			v.add("storage.dsn", "only for the postgres storage (storage.type is badger)")
		}
		if s.Schema != "" {
			v.add("storage.schema", "only for the postgres storage (storage.type is badger)")
		}
	case StoragePostgres:
		if s.MinFreeSpace != 0 {
			// PostgreSQL answers a full disk with errors, which
			// Portico answers with 503; there is nothing to guard.
			v.add("storage.min_free_space", "only for the badger storage (storage.type is postgres)")
		}
		// The DSN may hold a password: no message quotes it.
		switch {
		case s.DSN == "":
			v.add("storage.dsn", "required for postgres (or set $%s)", EnvStorageDSN)
		case strings.HasPrefix(s.DSN, "postgres://") || strings.HasPrefix(s.DSN, "postgresql://"):
			// A URL without a host is fine (libpq's default socket); one
			// that does not parse would fail at start, less clearly.
			if _, err := url.Parse(s.DSN); err != nil {
				v.add("storage.dsn", "not a valid postgres:// URL")
			}
		}
		switch {
		case len(s.Schema) > maxPostgresName:
			v.add("storage.schema", "longer than PostgreSQL's %d bytes", maxPostgresName)
		case strings.ContainsRune(s.Schema, 0):
			v.add("storage.schema", "must not contain a NUL character")
		}
	default:
		v.add("storage.type", "unsupported storage type %q (supported: %s, %s)", s.Type, StorageBadger, StoragePostgres)
	}
}

func (c *Config) validateConnectors(v *validator) {
	seen := map[string]bool{}
	for i, cn := range c.Connectors {
		p := fmt.Sprintf("connectors[%d]", i)
		if msg := CheckDisplayName(cn.Name); msg != "" {
			v.add(p+".name", "%s", msg)
		}
		switch msg := CheckConnectorID(cn.ID); {
		case msg != "":
			v.add(p+".id", "%s", msg)
		case seen[cn.ID]:
			v.add(p+".id", "duplicate connector id %q", cn.ID)
		}
		seen[cn.ID] = true
		if cn.Type == "" {
			v.add(p+".type", "required")
		}
		switch {
		case cn.Isolation != "" && cn.Isolation != IsolationProcess:
			v.add(p+".isolation", "unsupported isolation %q (supported: %s, or leave it out to run the connector in the broker)", cn.Isolation, IsolationProcess)
		case cn.Isolation == IsolationProcess && cn.Type == "plugin":
			v.add(p+".isolation", "a plugin always runs in a process of its own; leave isolation out")
		}
		cn.Limits.validate(v, p+".limits")
	}
}

var grantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange, GrantDeviceCode}

func (c *Config) validateClients(v *validator) {
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		if msg := CheckDisplayName(cl.Name); msg != "" {
			v.add(p+".name", "%s", msg)
		}
		switch msg := CheckClientID(cl.ID); {
		case msg != "":
			v.add(p+".id", "%s", msg)
		case seen[cl.ID]:
			v.add(p+".id", "duplicate client id %q", cl.ID)
		case cl.ID == ConsoleClient && !c.Admin.Console.Disabled:
			v.add(p+".id", "%q is the admin console's built-in client; choose another id, or set admin.console.disabled", cl.ID)
		}
		seen[cl.ID] = true

		// Secrets: reported by path only, never by value.
		if cl.Public {
			if cl.Secret != "" {
				v.add(p+".secret", "a public client must not have a secret")
			}
			if cl.SecretHash != "" {
				v.add(p+".secret_hash", "a public client must not have a secret hash")
			}
		} else if cl.TokenEndpointAuthMethod != AuthPrivateKeyJWT { // keys, no secret (clientauth.go)
			switch {
			case cl.Secret == "" && cl.SecretHash == "":
				v.add(p+".secret", "required for a confidential client (set secret or secret_hash, or public: true)")
			case cl.Secret != "" && cl.SecretHash != "":
				v.add(p+".secret", "set only one of secret and secret_hash")
			}
			if cl.Secret != "" && !cleanSecret(cl.Secret) {
				v.add(p+".secret", "must not contain control characters or leading or trailing spaces")
			}
			if cl.SecretHash != "" && !cleanSecret(cl.SecretHash) {
				v.add(p+".secret_hash", "must not contain control characters or leading or trailing spaces")
			}
		}

		validateClientAuth(v, p, cl) // JWT client authentication (clientauth.go)
		if msg := CheckProfileAlgs(cl.Profile, cl.IDTokenSignedResponseAlg, c.Tokens.SigningAlg); msg != "" {
			v.add(p+".profile", "%s", msg)
		}

		grants := map[string]bool{}
		for j, g := range cl.GrantTypes {
			gp := fmt.Sprintf("%s.grant_types[%d]", p, j)
			switch {
			case !slices.Contains(grantTypes, g):
				v.add(gp, "unsupported grant type %q (supported: %s)", g, strings.Join(grantTypes, ", "))
			case grants[g]:
				v.add(gp, "duplicate grant type %q", g)
			case g == GrantClientCredentials && cl.Public:
				v.add(gp, "a public client cannot use client_credentials")
			}
			grants[g] = true
		}
		if grants[GrantRefreshToken] && !grants[GrantAuthorizationCode] && !grants[GrantDeviceCode] {
			v.add(p+".grant_types", "refresh_token requires authorization_code or the device code grant")
		}

		if grants[GrantAuthorizationCode] && len(cl.RedirectURIs) == 0 {
			v.add(p+".redirect_uris", "at least one is required for the authorization_code grant")
		}
		uris := map[string]bool{}
		for j, raw := range cl.RedirectURIs {
			rp := fmt.Sprintf("%s.redirect_uris[%d]", p, j)
			if msg := checkRedirectURI(raw, cl.Public); msg != "" {
				v.add(rp, "%s", msg)
			} else if uris[raw] {
				v.add(rp, "duplicate redirect URI")
			}
			uris[raw] = true
		}

		for j, raw := range cl.PostLogoutRedirectURIs {
			if msg := checkRedirectURI(raw, cl.Public); msg != "" {
				v.add(fmt.Sprintf("%s.post_logout_redirect_uris[%d]", p, j), "%s", msg)
			}
		}
		// Back-channel logout (backchannel.go).
		if cl.BackchannelLogoutURI != "" {
			if msg := CheckBackchannelLogoutURI(cl.BackchannelLogoutURI); msg != "" {
				v.add(p+".backchannel_logout_uri", "%s", msg)
			}
		} else if cl.BackchannelLogoutSessionRequired {
			v.add(p+".backchannel_logout_session_required", "needs backchannel_logout_uri")
		}
		switch cl.TokenFormat {
		case "", "jwt", "opaque":
		default:
			v.add(p+".token_format", "unsupported token format %q (supported: jwt, opaque)", cl.TokenFormat)
		}
		switch cl.IDTokenSignedResponseAlg {
		case "", "RS256", "ES256", "EdDSA":
		default:
			v.add(p+".id_token_signed_response_alg", "unsupported signing algorithm %q (supported: RS256, ES256, EdDSA)", cl.IDTokenSignedResponseAlg)
		}
		switch cl.Introspection {
		case "", IntrospectNone:
		case IntrospectOwn, IntrospectAny:
			if cl.Public {
				v.add(p+".introspection", "a public client cannot authenticate to introspect")
			}
		default:
			v.add(p+".introspection", "unknown value %q (own, any or none)", cl.Introspection)
		}
		if field, msg := CheckClientLifetimes(cl.AccessTokenTTL.Std(), cl.IDTokenTTL.Std(), cl.RefreshIdleTTL.Std(),
			cl.RefreshAbsoluteTTL.Std(), cl.RefreshReuseGrace.Std()); msg != "" {
			v.add(p+"."+field, "%s", msg)
		}

		scopes := map[string]bool{}
		for j, s := range cl.Scopes {
			sp := fmt.Sprintf("%s.scopes[%d]", p, j)
			switch {
			case !validScope(s):
				v.add(sp, "invalid scope %q", s)
			case scopes[s]:
				v.add(sp, "duplicate scope %q", s)
			}
			scopes[s] = true
		}
		// The admin scope is the whole admin API: only a client the
		// operator marked may get it — a machine by client_credentials, or
		// a person through the code flow (the CLI's or the console's
		// client). Such a client is first-party: the scope is never put to
		// a person on a consent page.
		switch {
		case scopes[AdminScope] && !cl.Admin:
			v.add(p+".scopes", "scope %q requires admin: true", AdminScope)
		case cl.Admin && !scopes[AdminScope]:
			v.add(p+".admin", "an admin client must list scope %q", AdminScope)
		case cl.Admin && !slices.Contains(cl.GrantTypes, GrantClientCredentials) && !slices.Contains(cl.GrantTypes, GrantAuthorizationCode) &&
			!slices.Contains(cl.GrantTypes, GrantDeviceCode): // the device grant: portico login
			v.add(p+".admin", "an admin client must use client_credentials, authorization_code or the device code grant")
		case cl.Admin && cl.Consent:
			v.add(p+".consent", "an admin client is first-party: the admin scope is never asked on a consent page")
		}
	}
}

func cleanSecret(s string) bool {
	if strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// CheckRedirectURI returns what is wrong with raw as a redirect URI of a
// public or confidential client, or "": dynamic registration and the admin
// API apply the rules the configuration file does.
func CheckRedirectURI(raw string, public bool) string { return checkRedirectURI(raw, public) }

// validateRegistration: tokens are reported by path only, never by value.
func (c *Config) validateRegistration(v *validator) {
	r := c.Registration
	if r.Enabled && len(r.InitialAccessTokens)+len(r.InitialAccessTokenHashes) == 0 {
		v.add("registration.initial_access_tokens", "at least one initial access token (or hash) is required when registration is enabled")
	}
	for i, t := range r.InitialAccessTokens {
		if len(t) < 16 || !cleanSecret(t) {
			v.add(fmt.Sprintf("registration.initial_access_tokens[%d]", i), "must be at least 16 characters, without control characters or surrounding spaces")
		}
	}
	for i, h := range r.InitialAccessTokenHashes {
		if !sha256HashRE.MatchString(h) {
			v.add(fmt.Sprintf("registration.initial_access_token_hashes[%d]", i), "must be \"sha256:\" and the unpadded base64url SHA-256 of the token")
		}
	}
	seen := map[string]bool{}
	for i, g := range r.DefaultGrantTypes {
		p := fmt.Sprintf("registration.default_grant_types[%d]", i)
		switch {
		case !slices.Contains(grantTypes, g) || g == GrantTokenExchange: // exchange needs token_exchange, set in the file only
			v.add(p, "unsupported grant type %q (supported: %s)", g, strings.Join(slices.DeleteFunc(slices.Clone(grantTypes), func(s string) bool { return s == GrantTokenExchange }), ", "))
		case seen[g]:
			v.add(p, "duplicate grant type %q", g)
		}
		seen[g] = true
	}
	if seen[GrantRefreshToken] && !seen[GrantAuthorizationCode] && !seen[GrantDeviceCode] {
		v.add("registration.default_grant_types", "refresh_token requires authorization_code or the device code grant")
	}
}

var sha256HashRE = regexp.MustCompile(`^sha256:[A-Za-z0-9_-]{43}$`)

// checkURIChars refuses what RFC 3986 does not allow in a URI unencoded
// and would do harm: spaces and controls (Go's parser keeps them, and a
// Location header would carry them raw), non-ASCII (an internationalised
// host is written in punycode, RFC 3492, so that a homograph shows as what
// it is) and the delimiters "<> (§2; markup). The other excluded
// characters (^`{|}) are left to the parser, as browsers send them: a
// configuration may well hold a template's braces.
func checkURIChars(raw string) string {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"<>`, c) >= 0 {
			return `must be an RFC 3986 URI: no spaces, control or non-ASCII characters, nor "<> (percent-encode them; an internationalised host in punycode)`
		}
	}
	return ""
}

// checkRedirectURI returns what is wrong with raw, or "". Redirect URIs
// are compared as strings, so anything that lets two URL parsers disagree
// on where raw leads (a browser's and Portico's, or the client's) is
// refused, as is anything that looks like a pattern.
func checkRedirectURI(raw string, public bool) string {
	if raw == "" {
		return "must not be empty"
	}
	// Browsers read a backslash as a slash (WHATWG URL), Go does not: to
	// a browser "https://app.example.com/cb\..\open" is /open, not a
	// path under /cb.
	if strings.Contains(raw, `\`) {
		return "must not contain a backslash"
	}
	if msg := checkURIChars(raw); msg != "" {
		return msg
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a valid URL"
	}
	if u.Scheme == "" {
		return "must be an absolute URL"
	}
	if strings.Contains(raw, "#") {
		return "must not contain a fragment"
	}
	// RFC 3986 §3.2.1 deprecates user info; in a redirect URI it only
	// serves to make "https://trusted.example@evil.example/" look trusted.
	if u.User != nil {
		return "must not contain user info (user@ or user:password@)"
	}
	if strings.Contains(u.Host, "*") {
		return "must not contain a wildcard (*): redirect URIs are matched exactly"
	}
	if msg := checkPort(u); msg != "" {
		return msg
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Hostname() == "" {
			return "must have a host"
		}
	case "http":
		if u.Hostname() == "" {
			return "must have a host"
		}
		if !isLoopback(u.Hostname()) {
			return "http is allowed only for loopback hosts (" + loopbackHosts + "); use https"
		}
	case "javascript", "data", "vbscript", "file", "blob", "about", "view-source":
		return fmt.Sprintf("scheme %q is not allowed", u.Scheme)
	default:
		if !public {
			return "a custom scheme is allowed only for public clients"
		}
	}
	return ""
}

// checkPort: a port, if the URL names one, is a TCP port. url.Parse takes
// port 0, ports past 65535 and an empty port after the colon.
func checkPort(u *url.URL) string {
	p := u.Port()
	if p == "" && !strings.HasSuffix(u.Host, ":") {
		return ""
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return "the port must be a number from 1 to 65535"
	}
	return ""
}

// validScope checks RFC 6749 section 3.3 scope-token syntax.
// Bounds of a client's token lifetimes (zero takes the tokens section's).
const (
	MaxTokenTTL   = 24 * time.Hour       // access and ID tokens
	MaxRefreshTTL = 365 * 24 * time.Hour // refresh idle and absolute
	MaxReuseGrace = time.Minute
)

// CheckClientLifetimes checks a client's lifetimes by the one rule the
// file and the admin API share; it returns the offending field and why,
// or "" for the message when all are fine. A signed token's lifetime also
// keeps a retired key published: unbounded, keys would never leave.
func CheckClientLifetimes(access, id, idle, absolute, grace time.Duration) (field, msg string) {
	for _, d := range []struct {
		name string
		d    time.Duration
		max  time.Duration
	}{
		{"access_token_ttl", access, MaxTokenTTL}, {"id_token_ttl", id, MaxTokenTTL},
		{"refresh_idle_ttl", idle, MaxRefreshTTL}, {"refresh_absolute_ttl", absolute, MaxRefreshTTL},
		{"refresh_reuse_grace", grace, MaxReuseGrace},
	} {
		switch {
		case d.d < 0:
			return d.name, fmt.Sprintf("must not be negative, got %s", d.d)
		case d.d > d.max && d.name == "refresh_reuse_grace":
			return d.name, "at most 1m: a longer window lets a stolen token be replayed unnoticed"
		case d.d > d.max:
			return d.name, fmt.Sprintf("at most %s, got %s", d.max, d.d)
		}
	}
	if idle > 0 && absolute > 0 && idle > absolute {
		return "refresh_idle_ttl", fmt.Sprintf("must not exceed refresh_absolute_ttl (%s)", absolute)
	}
	return "", ""
}

// CheckScope says what is wrong with a scope token (RFC 6749 §3.3:
// printable ASCII without space, '"' or '\'), or "".
func CheckScope(s string) string {
	if !validScope(s) {
		return fmt.Sprintf("invalid scope %q (printable ASCII without space, '\"' or '\\')", s)
	}
	return ""
}

func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b == 0x22 || b == 0x5c || b > 0x7e {
			return false
		}
	}
	return true
}

func (c *Config) validateUsers(v *validator) {
	usernames := map[string]bool{}
	emails := map[string]bool{}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		if msg := CheckDisplayName(u.Name); msg != "" {
			v.add(p+".name", "%s", msg)
		}
		switch msg := CheckUsername(u.Username); {
		case msg != "":
			v.add(p+".username", "%s", msg)
		case usernames[u.Username]:
			v.add(p+".username", "duplicate username %q", u.Username)
		}
		usernames[u.Username] = true

		if u.Email != "" {
			key := strings.ToLower(u.Email)
			if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || a.Name != "" {
				v.add(p+".email", "%q is not a plain email address", u.Email)
			} else if emails[key] {
				v.add(p+".email", "duplicate email %q", u.Email)
			}
			emails[key] = true
		}

		switch {
		case u.PasswordHash == "":
			v.add(p+".password_hash", "required")
		case strings.HasPrefix(u.PasswordHash, "$argon2id$"):
			// As before: the connector checks its parameters at login,
			// refusing one beyond its bounds before any work.
		default: // an imported bcrypt, PBKDF2 or scrypt hash, within bounds
			if err := local.CheckHash(u.PasswordHash); err != nil {
				v.add(p+".password_hash", "%s", strings.TrimPrefix(err.Error(), "local: "))
			}
		}

		for _, e := range CheckGroups(p+".groups", u.Groups) {
			v.errs = append(v.errs, e)
		}
	}
}

func (c *Config) validateTokens(v *validator) {
	t := c.Tokens
	switch t.SigningAlg {
	case "RS256", "ES256", "EdDSA":
	default:
		v.add("tokens.signing_alg", "unsupported signing algorithm %q (supported: RS256, ES256, EdDSA)", t.SigningAlg)
	}
	for _, d := range []struct {
		name string
		d    Duration
	}{
		{"access_token_ttl", t.AccessTokenTTL},
		{"id_token_ttl", t.IDTokenTTL},
		{"refresh_idle_ttl", t.RefreshIdleTTL},
		{"refresh_absolute_ttl", t.RefreshAbsoluteTTL},
		{"auth_code_ttl", t.AuthCodeTTL},
		{"auth_request_ttl", t.AuthRequestTTL},
		{"key_rotation", t.KeyRotation},
		{"device_code_ttl", t.DeviceCodeTTL},
		{"device_poll_interval", t.DevicePollInterval},
		{"dpop.proof_lifetime", t.DPoP.ProofLifetime},
		{"dpop.nonce_lifetime", t.DPoP.NonceLifetime},
	} {
		if d.d <= 0 {
			v.add("tokens."+d.name, "must be positive, got %s", d.d)
		}
	}
	// RFC 8628 §3.2: the interval is in whole seconds.
	if t.DevicePollInterval > 0 && (t.DevicePollInterval%Duration(time.Second) != 0 || t.DevicePollInterval >= t.DeviceCodeTTL) {
		v.add("tokens.device_poll_interval", "must be whole seconds and shorter than device_code_ttl (%s)", t.DeviceCodeTTL)
	}
	if t.DPoP.ProofLifetime > Duration(5*time.Minute) {
		v.add("tokens.dpop.proof_lifetime", "must be at most 5m, got %s", t.DPoP.ProofLifetime)
	}
	if t.RefreshIdleTTL > 0 && t.RefreshAbsoluteTTL > 0 && t.RefreshIdleTTL > t.RefreshAbsoluteTTL {
		v.add("tokens.refresh_idle_ttl", "must not exceed refresh_absolute_ttl (%s)", t.RefreshAbsoluteTTL)
	}
}

// StandardScopes are the scopes Portico defines itself; custom scopes take
// other names.
var StandardScopes = []string{"openid", "profile", "email", "groups", "offline_access", "roles"}

// validateIdentity checks the claim mapping of each connector, the custom
// scopes and the clients' extra scopes.
func (c *Config) validateIdentity(v *validator) {
	list := map[string]bool{} // custom claim → is a list claim
	where := map[string]int{} // custom claim → first connector mapping it
	for i, cn := range c.Connectors {
		p := fmt.Sprintf("connectors[%d]", i)
		m, err := mapping.Compile(cn.ID, cn.ClaimMapping, cn.Groups)
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var me *mapping.Error
				if errors.As(e, &me) {
					v.add(p+"."+me.Path, "%s", me.Message)
				}
			}
			continue
		}
		claims := m.Claims()
		for _, claim := range slices.Sorted(maps.Keys(claims)) {
			if j, ok := where[claim]; ok && list[claim] != claims[claim] {
				// A claim is a string or a list in every token, whichever
				// connector the person came through.
				v.add(p+".claim_mapping", "claim %q is multi here but not in connectors[%d], or the other way round; set multi alike", claim, j)
				continue
			}
			where[claim], list[claim] = i, claims[claim]
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Scopes)) {
		p := "scopes." + name
		switch {
		case !validScope(name):
			v.add(p, "invalid scope name %q", name)
		case slices.Contains(StandardScopes, name):
			v.add(p, "%q is a standard scope and cannot be redefined", name)
		}
		claims := c.Scopes[name].Claims
		if len(claims) == 0 {
			v.add(p+".claims", "at least one claim is required")
		}
		for j, cl := range claims {
			cp := fmt.Sprintf("%s.claims[%d]", p, j)
			switch _, mapped := list[cl]; {
			case !mapping.ValidClaimName(cl):
				v.add(cp, "%q is not a custom claim name", cl)
			case !mapped:
				v.add(cp, "no connector's claim_mapping sets claim %q", cl)
			}
		}
	}
	for i, cl := range c.Clients {
		seen := map[string]bool{}
		for j, sc := range cl.ExtraScopes {
			sp := fmt.Sprintf("clients[%d].extra_scopes[%d]", i, j)
			switch _, defined := c.Scopes[sc]; {
			case !defined:
				v.add(sp, "scope %q is not defined under scopes", sc)
			case seen[sc]:
				v.add(sp, "duplicate scope %q", sc)
			}
			seen[sc] = true
		}
	}
	if c.Audit.Retention <= 0 {
		v.add("audit.retention", "must be positive, got %s", c.Audit.Retention)
	}
	for i, typ := range c.Audit.Exclude {
		if !slices.Contains(AuditTypes, typ) {
			v.add(fmt.Sprintf("audit.exclude[%d]", i), "unknown event type %q (known: %s)", typ, strings.Join(AuditTypes, ", "))
		}
	}
}
