// Package config reads Portico's YAML configuration file.
//
// Parse decodes strictly: an unknown field, a value of the wrong type or a
// malformed duration is an error that names the field's path, such as
// "config: clients[1].redirect_uri: unknown field (did you mean
// redirect_uris?)". It then fills in defaults and runs Validate, which
// reports every problem at once, each prefixed with its path. Error
// messages never quote the value of a client secret, secret hash or password
// hash.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Config is the whole configuration file.
type Config struct {
	// Issuer is the OpenID Connect issuer URL, e.g. https://id.example.com.
	Issuer string `yaml:"issuer"`
	// Listen is the address the HTTP server listens on (host:port).
	Listen     string      `yaml:"listen"`
	Storage    Storage     `yaml:"storage"`
	Connectors []Connector `yaml:"connectors"`
	Clients    []Client    `yaml:"clients"`
	// Users are seeded into the local connector.
	Users  []User `yaml:"users"`
	Tokens Tokens `yaml:"tokens"`
	Log    Log    `yaml:"log"`
}

// Storage selects and configures the storage backend.
type Storage struct {
	// Type is the backend; only "badger" exists.
	Type string `yaml:"type"`
	// Dir is the directory the badger backend keeps its files in.
	Dir string `yaml:"dir"`
	// SyncWrites makes every write durable before it returns (default true).
	SyncWrites *bool `yaml:"sync_writes"`
}

// Connector is one upstream identity source. Config is the type-specific
// part, left undecoded for the connector.
type Connector struct {
	ID     string         `yaml:"id"`
	Type   string         `yaml:"type"`
	Name   string         `yaml:"name"`
	Config map[string]any `yaml:"config"`
}

// Client is an OAuth client (relying party).
type Client struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Secret is the client secret in clear; SecretHash its hash. A
	// confidential client has exactly one of them, a public client neither.
	Secret       string   `yaml:"secret"`
	SecretHash   string   `yaml:"secret_hash"`
	Public       bool     `yaml:"public"`
	RedirectURIs []string `yaml:"redirect_uris"`
	GrantTypes   []string `yaml:"grant_types"`
	Scopes       []string `yaml:"scopes"`
	// PostLogoutRedirectURIs are where RP-initiated logout may return to.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`

	// Token settings for this client; unset ones take the tokens section's.
	TokenFormat              string   `yaml:"token_format"` // jwt (default) or opaque
	AccessTokenTTL           Duration `yaml:"access_token_ttl"`
	IDTokenTTL               Duration `yaml:"id_token_ttl"`
	RefreshIdleTTL           Duration `yaml:"refresh_idle_ttl"`
	RefreshAbsoluteTTL       Duration `yaml:"refresh_absolute_ttl"`
	RefreshReuseGrace        Duration `yaml:"refresh_reuse_grace"`
	IDTokenSignedResponseAlg string   `yaml:"id_token_signed_response_alg"`
	// Introspection lets the client call the introspection endpoint
	// (default true for confidential clients; public ones never can).
	Introspection *bool `yaml:"introspection"`
}

// User is an account seeded into the local connector.
type User struct {
	Username string `yaml:"username"`
	Email    string `yaml:"email"`
	Name     string `yaml:"name"`
	// EmailVerified defaults to true.
	EmailVerified *bool    `yaml:"email_verified"`
	Groups        []string `yaml:"groups"`
	// PasswordHash is an argon2id PHC string ("$argon2id$v=19$m=...").
	PasswordHash string `yaml:"password_hash"`
}

// Tokens sets the signing algorithm and the lifetimes of what Portico issues.
type Tokens struct {
	// SigningAlg is RS256, ES256 or EdDSA.
	SigningAlg         string   `yaml:"signing_alg"`
	AccessTokenTTL     Duration `yaml:"access_token_ttl"`
	IDTokenTTL         Duration `yaml:"id_token_ttl"`
	RefreshIdleTTL     Duration `yaml:"refresh_idle_ttl"`
	RefreshAbsoluteTTL Duration `yaml:"refresh_absolute_ttl"`
	AuthCodeTTL        Duration `yaml:"auth_code_ttl"`
	AuthRequestTTL     Duration `yaml:"auth_request_ttl"`
	KeyRotation        Duration `yaml:"key_rotation"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Grant types a client may use.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// Defaults filled in by ApplyDefaults.
const (
	DefaultListen             = "127.0.0.1:5556"
	DefaultStorageType        = "badger"
	DefaultSigningAlg         = "RS256"
	DefaultAccessTokenTTL     = 10 * time.Minute
	DefaultIDTokenTTL         = 10 * time.Minute
	DefaultRefreshIdleTTL     = 30 * 24 * time.Hour
	DefaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
	DefaultAuthCodeTTL        = time.Minute
	DefaultAuthRequestTTL     = 15 * time.Minute
	DefaultKeyRotation        = 30 * 24 * time.Hour
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
)

// Duration is a time.Duration written in the file as a Go duration string
// ("90s", "15m", "720h").
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q", b)
	}
	*d = Duration(v)
	return nil
}

// FieldError is one problem with one field. Parse and Validate return these,
// joined with errors.Join when there are several.
type FieldError struct {
	// Path locates the field: "issuer", "clients[1].redirect_uris[0]";
	// empty for the file as a whole.
	Path    string
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return "config: " + e.Message
	}
	return "config: " + e.Path + ": " + e.Message
}

// Load reads and parses the file at path; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data)
}

// Parse decodes data strictly, applies defaults and validates the result.
// A decoding problem (YAML syntax, unknown field, wrong type, bad
// duration) stops before validation; otherwise every validation problem is
// reported.
func Parse(data []byte) (*Config, error) {
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, yamlError(err)
	}
	var body ast.Node
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			return nil, &FieldError{Message: "the file holds more than one YAML document"}
		}
		body = doc.Body
	}
	var cfg Config
	if body != nil {
		sc := shapeChecker{}
		sc.check("", body, reflect.TypeFor[Config]())
		if len(sc.errs) > 0 {
			return nil, errors.Join(sc.errs...)
		}
		// Duplicate keys were reported above, by path. Allowing them here
		// lets an explicit key override one from a merge key ("<<: *base").
		if err := yaml.UnmarshalWithOptions(data, &cfg, yaml.Strict(), yaml.AllowDuplicateMapKey()); err != nil {
			return nil, yamlError(err)
		}
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// yamlError reports a goccy/go-yaml error by position and message only: its
// own Error() quotes the source lines, which may hold a secret.
func yamlError(err error) error {
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		msg := yerr.GetMessage()
		if tk := yerr.GetToken(); tk != nil && tk.Position != nil {
			msg = fmt.Sprintf("line %d, column %d: %s", tk.Position.Line, tk.Position.Column, msg)
		}
		return &FieldError{Message: msg}
	}
	return &FieldError{Message: err.Error()}
}

// ApplyDefaults fills in every unset field that has a default. Parse calls
// it; call it yourself on a Config built in code before Validate.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Storage.Type == "" {
		c.Storage.Type = DefaultStorageType
	}
	if c.Storage.SyncWrites == nil {
		c.Storage.SyncWrites = ptr(true)
	}
	t := &c.Tokens
	if t.SigningAlg == "" {
		t.SigningAlg = DefaultSigningAlg
	}
	for _, d := range []struct {
		f   *Duration
		def time.Duration
	}{
		{&t.AccessTokenTTL, DefaultAccessTokenTTL},
		{&t.IDTokenTTL, DefaultIDTokenTTL},
		{&t.RefreshIdleTTL, DefaultRefreshIdleTTL},
		{&t.RefreshAbsoluteTTL, DefaultRefreshAbsoluteTTL},
		{&t.AuthCodeTTL, DefaultAuthCodeTTL},
		{&t.AuthRequestTTL, DefaultAuthRequestTTL},
		{&t.KeyRotation, DefaultKeyRotation},
	} {
		if *d.f == 0 {
			*d.f = Duration(d.def)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	for i := range c.Clients {
		if len(c.Clients[i].GrantTypes) == 0 {
			c.Clients[i].GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	for i := range c.Users {
		if c.Users[i].EmailVerified == nil {
			c.Users[i].EmailVerified = ptr(true)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// SyncWritesEnabled reports Storage.SyncWrites, true when unset.
func (s Storage) SyncWritesEnabled() bool { return s.SyncWrites == nil || *s.SyncWrites }

var connectorIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the configuration, after defaults, and returns every
// problem found, joined with errors.Join; each is a *FieldError.
func (c *Config) Validate() error {
	var v validator
	c.validateTop(&v)
	c.validateConnectors(&v)
	c.validateClients(&v)
	c.validateUsers(&v)
	c.validateTokens(&v)
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
		}
	}

	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		v.add("listen", "must be host:port")
	} else if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		v.add("listen", "invalid port %q", port)
	}

	switch c.Storage.Type {
	case "badger":
		if c.Storage.Dir == "" {
			v.add("storage.dir", "required for the badger storage")
		}
	default:
		v.add("storage.type", "unsupported storage type %q (supported: badger)", c.Storage.Type)
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

func (c *Config) validateConnectors(v *validator) {
	seen := map[string]bool{}
	for i, cn := range c.Connectors {
		p := fmt.Sprintf("connectors[%d]", i)
		switch {
		case cn.ID == "":
			v.add(p+".id", "required")
		case !connectorIDRE.MatchString(cn.ID):
			v.add(p+".id", "%q must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit", cn.ID)
		case seen[cn.ID]:
			v.add(p+".id", "duplicate connector id %q", cn.ID)
		}
		seen[cn.ID] = true
		if cn.Type == "" {
			v.add(p+".type", "required")
		}
	}
}

var grantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}

func (c *Config) validateClients(v *validator) {
	seen := map[string]bool{}
	for i, cl := range c.Clients {
		p := fmt.Sprintf("clients[%d]", i)
		switch {
		case cl.ID == "":
			v.add(p+".id", "required")
		case seen[cl.ID]:
			v.add(p+".id", "duplicate client id %q", cl.ID)
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
		} else {
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
		if grants[GrantRefreshToken] && !grants[GrantAuthorizationCode] {
			v.add(p+".grant_types", "refresh_token requires authorization_code")
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
		if cl.Public && cl.Introspection != nil && *cl.Introspection {
			v.add(p+".introspection", "a public client cannot authenticate to introspect")
		}
		for _, d := range []struct {
			name string
			d    Duration
		}{
			{"access_token_ttl", cl.AccessTokenTTL}, {"id_token_ttl", cl.IDTokenTTL},
			{"refresh_idle_ttl", cl.RefreshIdleTTL}, {"refresh_absolute_ttl", cl.RefreshAbsoluteTTL},
			{"refresh_reuse_grace", cl.RefreshReuseGrace},
		} {
			if d.d < 0 {
				v.add(p+"."+d.name, "must not be negative, got %s", d.d)
			}
		}
		if cl.RefreshReuseGrace > Duration(time.Minute) {
			v.add(p+".refresh_reuse_grace", "at most 1m: a longer window lets a stolen token be replayed unnoticed")
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

// checkRedirectURI returns what is wrong with raw, or "".
func checkRedirectURI(raw string, public bool) string {
	if raw == "" {
		return "must not be empty"
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
	switch strings.ToLower(u.Scheme) {
	case "https":
		if u.Host == "" {
			return "must have a host"
		}
	case "http":
		if u.Host == "" {
			return "must have a host"
		}
		if !isLoopback(u.Hostname()) {
			return "http is allowed only for loopback hosts (" + loopbackHosts + "); use https"
		}
	case "javascript", "data", "vbscript", "file", "blob", "about":
		return fmt.Sprintf("scheme %q is not allowed", u.Scheme)
	default:
		if !public {
			return "a custom scheme is allowed only for public clients"
		}
	}
	return ""
}

// validScope checks RFC 6749 section 3.3 scope-token syntax.
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
		switch {
		case u.Username == "":
			v.add(p+".username", "required")
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
		case !strings.HasPrefix(u.PasswordHash, "$argon2id$"):
			v.add(p+".password_hash", "must be an argon2id PHC string starting with $argon2id$")
		}

		for j, g := range u.Groups {
			if strings.TrimSpace(g) == "" {
				v.add(fmt.Sprintf("%s.groups[%d]", p, j), "must not be empty")
			}
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
	} {
		if d.d <= 0 {
			v.add("tokens."+d.name, "must be positive, got %s", d.d)
		}
	}
	if t.RefreshIdleTTL > 0 && t.RefreshAbsoluteTTL > 0 && t.RefreshIdleTTL > t.RefreshAbsoluteTTL {
		v.add("tokens.refresh_idle_ttl", "must not exceed refresh_absolute_ttl (%s)", t.RefreshAbsoluteTTL)
	}
}

// shapeChecker walks the YAML syntax tree against the Go types, so that
// unknown fields, wrong types and bad durations are reported by path (the
// decoder reports them by line and column only, and quotes the source).
type shapeChecker struct{ errs []error }

func (s *shapeChecker) add(path, format string, args ...any) {
	s.errs = append(s.errs, &FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeFor[Duration]()

func (s *shapeChecker) check(path string, n ast.Node, t reflect.Type) {
	// An anchor is checked where it is defined; an alias is left to the
	// decoder (which checks it against its use too).
	for {
		if a, ok := n.(*ast.AnchorNode); ok {
			n = a.Value
			continue
		}
		break
	}
	switch n.(type) {
	case *ast.AliasNode:
		return
	case *ast.TagNode:
		if t.Kind() != reflect.Interface {
			s.add(path, "YAML tags are not supported here")
			return
		}
	case *ast.NullNode:
		return // leaves the field unset
	}

	if t == durationType {
		str, ok := n.(*ast.StringNode)
		if !ok {
			if _, scalar := n.(ast.ScalarNode); scalar {
				s.add(path, "invalid duration %q (write it like \"15m\" or \"720h\")", n.GetToken().Value)
			} else {
				s.add(path, "expected a duration such as \"15m\", got %s", kindOf(n))
			}
			return
		}
		if d, err := time.ParseDuration(str.Value); err != nil {
			s.add(path, "invalid duration %q", str.Value)
		} else if d <= 0 {
			// Zero would otherwise be taken for "unset" and defaulted.
			s.add(path, "must be positive, got %q", str.Value)
		}
		return
	}

	switch t.Kind() {
	case reflect.Pointer:
		s.check(path, n, t.Elem())
	case reflect.String:
		switch n.(type) {
		case *ast.StringNode, *ast.LiteralNode:
		default:
			if _, scalar := n.(ast.ScalarNode); scalar {
				s.add(path, "expected a string, got %s (quote it)", kindOf(n))
			} else {
				s.add(path, "expected a string, got %s", kindOf(n))
			}
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			s.add(path, "expected true or false, got %s", kindOf(n))
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			s.add(path, "expected a list, got %s", kindOf(n))
			return
		}
		for i, item := range seq.Values {
			s.check(fmt.Sprintf("%s[%d]", path, i), item, t.Elem())
		}
	case reflect.Struct:
		s.checkStruct(path, n, t)
	case reflect.Map:
		if mappingValues(n) == nil {
			if _, isMap := n.(*ast.MappingNode); !isMap {
				s.add(path, "expected a mapping, got %s", kindOf(n))
				return
			}
		}
		s.checkRaw(path, n)
	case reflect.Interface:
		s.checkRaw(path, n)
	default:
		panic("config: no shape check for " + t.String())
	}
}

// mappingValues returns the entries of a mapping node, or nil.
func mappingValues(n ast.Node) []*ast.MappingValueNode {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (s *shapeChecker) checkStruct(path string, n ast.Node, t reflect.Type) {
	values := mappingValues(n)
	if values == nil {
		if _, isMap := n.(*ast.MappingNode); !isMap {
			s.add(path, "expected a mapping, got %s", kindOf(n))
			return
		}
	}
	fields := map[string]reflect.Type{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
		names = append(names, name)
	}
	seen := map[string]bool{}
	for _, mv := range values {
		if mv.Key.IsMergeKey() {
			// "<<: {…}" merges into this mapping; "<<: *alias" is checked
			// where the anchor is defined.
			v := mv.Value
			if a, ok := v.(*ast.AnchorNode); ok {
				v = a.Value
			}
			if _, isMap := v.(*ast.MappingNode); isMap {
				s.checkStruct(path, v, t)
			}
			continue
		}
		key, ok := keyString(mv.Key)
		if !ok {
			s.add(path, "field names must be plain strings, got %s", kindOf(mv.Key))
			continue
		}
		fp := join(path, key)
		ft, known := fields[key]
		if !known {
			if sug := suggest(key, names); sug != "" {
				s.add(fp, "unknown field (did you mean %s?)", sug)
			} else {
				s.add(fp, "unknown field")
			}
			continue
		}
		if seen[key] {
			s.add(fp, "duplicate field")
			continue
		}
		seen[key] = true
		s.check(fp, mv.Value, ft)
	}
}

// checkRaw only looks for duplicate keys in an undecoded subtree.
func (s *shapeChecker) checkRaw(path string, n ast.Node) {
	if a, ok := n.(*ast.AnchorNode); ok {
		n = a.Value
	}
	if t, ok := n.(*ast.TagNode); ok {
		n = t.Value
	}
	switch v := n.(type) {
	case *ast.SequenceNode:
		for i, item := range v.Values {
			s.checkRaw(fmt.Sprintf("%s[%d]", path, i), item)
		}
	case *ast.MappingNode, *ast.MappingValueNode:
		seen := map[string]bool{}
		for _, mv := range mappingValues(n) {
			if mv.Key.IsMergeKey() {
				continue
			}
			key, ok := keyString(mv.Key)
			if !ok {
				continue
			}
			if seen[key] {
				s.add(join(path, key), "duplicate field")
				continue
			}
			seen[key] = true
			s.checkRaw(join(path, key), mv.Value)
		}
	}
}

func keyString(k ast.MapKeyNode) (string, bool) {
	var n ast.Node = k
	if mk, ok := n.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.NullNode:
		return "null"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AliasNode:
		return "an alias"
	case *ast.TagNode:
		return "a tagged value"
	}
	return "a " + strings.ToLower(n.Type().String())
}

// suggest returns the known field closest to key, if it is close enough to
// be a likely typo: the same apart from case, '_' and '-', or one edit away
// (two for names longer than four letters).
func suggest(key string, names []string) string {
	norm := func(s string) string {
		return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
	}
	best, bestDist := "", 0
	for _, name := range names {
		if norm(name) == norm(key) {
			return name
		}
		limit := 1
		if len(name) > 4 {
			limit = 2
		}
		if d := editDistance(strings.ToLower(key), name); d <= limit && (best == "" || d < bestDist) {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
