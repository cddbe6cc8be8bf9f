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
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/portico-idp/portico/broker/mapping"
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
	// Scopes are custom scopes, by name, each releasing claims that
	// connectors' claim_mapping rules set; clients ask for them when
	// allowed by their extra_scopes (docs/identity.md).
	Scopes map[string]Scope `yaml:"scopes"`
	// Linking is the account-linking policy for every connector.
	Linking Linking `yaml:"linking"`
	Audit   Audit   `yaml:"audit"`
	// Admin configures the admin API (docs/admin-api.md).
	Admin Admin `yaml:"admin"`
	// Registration is dynamic client registration (RFC 7591, RFC 7592;
	// docs/registration.md). Off unless enabled.
	Registration Registration `yaml:"registration"`
	// Login configures single sign-on, second factors, consent and
	// brute-force protection (login.go).
	Login Login `yaml:"login"`
	// Ops configures /metrics, /healthz, /readyz and replica sync (ops.go).
	Ops Ops `yaml:"ops"`
	// HTTP configures the HTTP server's timeouts (http.go).
	HTTP HTTP `yaml:"http"`
	// TokenExchange: external issuers trusted for token exchange
	// (RFC 8693; exchange.go).
	TokenExchange TokenExchange `yaml:"token_exchange"`
	// SCIM is SCIM 2.0 provisioning (scim.go; docs/scim.md).
	SCIM SCIM `yaml:"scim"`

	// Declarative makes the file the truth for its clients, users (local
	// accounts), connectors and SCIM provisioners (issue 19): at start
	// those an earlier start took from the file and the file no longer
	// has are removed from the store (logged and audited), the users'
	// and connectors' stored state is reset to the file's, and the admin
	// API refuses to change them (409 managed_by_file). False, the
	// default, merges: the file's entries are written at each start, and
	// what the file dropped or the admin API changed stays.
	Declarative bool `yaml:"declarative"`
}

// Registration configures the /register endpoint. It is never open: a
// registrant presents one of the initial access tokens as a Bearer token.
type Registration struct {
	Enabled bool `yaml:"enabled"`
	// InitialAccessTokens in clear, or their hashes ("sha256:" and the
	// unpadded base64url SHA-256, the form of a client secret_hash).
	InitialAccessTokens      []string `yaml:"initial_access_tokens"`
	InitialAccessTokenHashes []string `yaml:"initial_access_token_hashes"`
	// DefaultGrantTypes are given to a client that registers without
	// grant_types (default: authorization_code, as RFC 7591 says).
	DefaultGrantTypes []string `yaml:"default_grant_types"`
	// AllowPrivateURIs lets registered clients' jwks_uri and
	// backchannel_logout_uri reach loopback, private and link-local
	// addresses, which Portico otherwise refuses to connect to for them.
	AllowPrivateURIs bool `yaml:"allow_private_uris"`
	// InitialAccessTokenFiles are files each holding one initial access
	// token in clear (a mounted secret), read at start and added to
	// initial_access_tokens (issue 19: secrets from files).
	InitialAccessTokenFiles []string `yaml:"initial_access_token_files"`
}

// Admin configures the admin API under /admin/v1.
type Admin struct {
	// Role is the user role (users' roles, set through the API or the
	// CLI) whose access tokens may call the API; default "admin".
	Role string `yaml:"role"`
}

// AdminScope is the scope a client_credentials token needs for the admin
// API; only clients with admin: true may have it in their scopes.
const AdminScope = "admin"

// DefaultAdminRole is Admin.Role unless set.
const DefaultAdminRole = "admin"

// Scope is a custom scope.
type Scope struct {
	// Claims are the custom claims the scope releases.
	Claims []string `yaml:"claims"`
}

// Linking says when a login through a connector joins an existing user
// instead of making a new one. Off unless set.
type Linking struct {
	// VerifiedEmail links a new identity whose email the connector
	// verified to the one user that has an identity, through another
	// connector that takes part, with the same verified email.
	VerifiedEmail bool `yaml:"verified_email"`
	// Explicit lets a logged-in person link an account of a connector
	// that takes part to their user, by logging in with it from the
	// account page (/account).
	Explicit bool `yaml:"explicit"`
}

// ConnectorLink is a connector's own linking policy; unset fields take
// the top-level linking's.
type ConnectorLink struct {
	VerifiedEmail *bool `yaml:"verified_email"`
	Explicit      *bool `yaml:"explicit"`
}

// Audit configures the audit trail kept in the store. Every event is
// logged whatever this says.
type Audit struct {
	// Retention is how long events are kept (default 90 days).
	Retention Duration `yaml:"retention"`
	// Exclude are event types (AuditTypes) kept in the log only, not in
	// the store: token.issue, say, when machine clients fetch tokens by
	// the thousand.
	Exclude []string `yaml:"exclude"`
}

// AuditTypes are the audit event types, as the broker records them
// (broker/audit.go; a broker test keeps the two lists alike).
var AuditTypes = []string{
	"login.success", "login.failure", "user.create", "identity.link", "identity.link_skipped", "identity.link_refused", "mfa.enrol", "mfa.recovery_used", "consent.grant", "consent.revoke",
	"device.approve", "device.deny",
	"token.issue", "token.refresh", "token.revoke", "token.exchange",
	"security.refresh_replay", "security.code_replay", "security.assertion_replay", "security.passkey_sign_count",
	"admin.client_create", "admin.client_update", "admin.account_create",
	"logout.backchannel_delivered", "logout.backchannel_failed", // back-channel logout
	"scim.user_create", "scim.user_update", "scim.user_deactivate", "scim.user_delete", // SCIM (broker/scim)
	"scim.group_create", "scim.group_update", "scim.group_delete", "scim.auth_failure",
}

// Storage selects and configures the storage backend.
type Storage struct {
	// Type is the backend: "badger" (embedded, one process) or
	// "postgres" (shared by any number of replicas).
	Type string `yaml:"type"`
	// Dir is the directory the badger backend keeps its files in. With
	// postgres it is optional and holds only the local key file that
	// seals second-factor secrets and connectors' upstream tokens (give
	// every replica the same one); without it the key is new at each
	// start.
	Dir string `yaml:"dir"`
	// SyncWrites makes every write durable before it returns (default
	// true); badger only.
	SyncWrites *bool `yaml:"sync_writes"`
	// DSN is the postgres connection string, URL or key=value form. When
	// empty it is read from $PORTICO_STORAGE_DSN, so that the password
	// need not be written in the file.
	DSN string `yaml:"dsn"`
	// Schema is the postgres schema Portico's tables are in, created if
	// missing; empty uses the DSN's search_path (normally "public").
	Schema string `yaml:"schema"`
	// MinFreeSpace is the free space the badger storage keeps on its
	// directory's filesystem: below it writes fail (503) and the server
	// does not start, since Badger would crash on a full disk. Zero, the
	// default, is the badger backend's (badger.DefaultMinFreeSpace).
	MinFreeSpace Size `yaml:"min_free_space"`
	// DSNFile is a file holding the postgres connection string (a mounted
	// secret), read at start; set it or dsn, not both (issue 19).
	DSNFile string `yaml:"dsn_file"`
}

// EnvStorageDSN is read for Storage.DSN when the file leaves it empty.
const EnvStorageDSN = "PORTICO_STORAGE_DSN"

// Connector is one upstream identity source. Config is the type-specific
// part, left undecoded for the connector.
type Connector struct {
	ID   string `yaml:"id"`
	Type string `yaml:"type"`
	Name string `yaml:"name"`
	// Icon is the URL of an image shown beside the name on the login page.
	Icon string `yaml:"icon"`
	// Isolation is where the connector runs: "" (the default) in the
	// broker's process, or "process" in a child process of the portico
	// binary, over the plugin protocol, so that its crash or leak cannot
	// take the broker down. A connector of type plugin always runs in a
	// process of its own.
	Isolation string         `yaml:"isolation"`
	Config    map[string]any `yaml:"config"`
	// ClaimMapping and Groups turn what the connector says into Portico's
	// claims, before the user is created or updated (docs/identity.md).
	ClaimMapping []mapping.Rule `yaml:"claim_mapping"`
	Groups       mapping.Groups `yaml:"groups"`
	Link         ConnectorLink  `yaml:"link"`
	// Limits bound what the connector may say about a person; a login
	// (or refresh) whose identity breaks them is refused
	// (docs/identity.md#identity-limits).
	Limits ConnectorLimits `yaml:"limits"`
}

// ConnectorLimits are a connector's identity limits. Zero (or unset)
// takes the broker's default, documented in docs/configuration.md.
type ConnectorLimits struct {
	// MaxClaimLength bounds each string (subject, username, email, name,
	// each group, each attribute name and value), in bytes.
	MaxClaimLength int `yaml:"max_claim_length"`
	MaxGroups      int `yaml:"max_groups"`
	MaxAttributes  int `yaml:"max_attributes"`
	// MaxAttributeValues bounds the values of each attribute.
	MaxAttributeValues int `yaml:"max_attribute_values"`
	// MaxSize bounds the whole identity as JSON, in bytes, the
	// connector's own data (an upstream refresh token) included.
	MaxSize int `yaml:"max_size"`
}

// LinksByVerifiedEmail reports whether the connector takes part in
// linking by verified email, under the top-level policy l.
func (c Connector) LinksByVerifiedEmail(l Linking) bool {
	if c.Link.VerifiedEmail != nil {
		return *c.Link.VerifiedEmail
	}
	return l.VerifiedEmail
}

// LinksExplicitly reports whether the connector's accounts may be linked
// from the account page, under the top-level policy l.
func (c Connector) LinksExplicitly(l Linking) bool {
	if c.Link.Explicit != nil {
		return *c.Link.Explicit
	}
	return l.Explicit
}

// IsolationProcess is the Connector.Isolation that runs a connector in a
// child process.
const IsolationProcess = "process"

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
	// ExtraScopes are the custom scopes (top-level scopes) the client may
	// ask for at /authorize.
	ExtraScopes []string `yaml:"extra_scopes"`
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
	// Introspection is what the client may introspect (RFC 7662 §4):
	// "own", the default for a confidential client, answers for tokens
	// whose audience includes the client; "any" answers for every token, for
	// a resource server that checks tokens issued to others; "none" forbids
	// the endpoint. A public client never can.
	Introspection string `yaml:"introspection"`
	// Admin lets the client get the admin scope by client_credentials;
	// it must then list "admin" in scopes. Without it, "admin" in scopes
	// is a configuration error.
	Admin bool `yaml:"admin"`
	// Consent marks a third-party client: the person is asked to allow
	// the scopes it wants, once per set of scopes, until they revoke it.
	Consent bool `yaml:"consent"`

	// Resource indicators (RFC 8707, docs/tokens.md#resource-indicators):
	// Resources are the resource servers (absolute URIs) the client may
	// ask access tokens for; ResourceURIs are the URIs that name this
	// client as a resource server, whose tokens its introspection sees.
	Resources    []string `yaml:"resources"`
	ResourceURIs []string `yaml:"resource_uris"`
	// Client authentication (clientauth.go): token_endpoint_auth_method
	// and, for private_key_jwt, the client's public keys as an inline
	// JWK Set (jwks) or where to fetch them (jwks_uri).
	TokenEndpointAuthMethod string         `yaml:"token_endpoint_auth_method"`
	JWKS                    map[string]any `yaml:"jwks"`
	JWKSURI                 string         `yaml:"jwks_uri"`
	// TokenExchange is what the client may exchange (RFC 8693); it needs
	// the grant type GrantTokenExchange (exchange.go).
	TokenExchange *ClientExchange `yaml:"token_exchange"`

	// Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the
	// URL Portico POSTs a logout token to when a session of this client
	// ends (https, or http on a loopback host), and whether the client
	// requires sid in it.
	BackchannelLogoutURI             string `yaml:"backchannel_logout_uri"`
	BackchannelLogoutSessionRequired bool   `yaml:"backchannel_logout_session_required"`

	// SecretFile is a file holding the client secret in clear (a mounted
	// secret), read at start; set it or secret, not both (issue 19).
	SecretFile string `yaml:"secret_file"`
}

// User is an account seeded into the local connector.
type User struct {
	Username string `yaml:"username"`
	Email    string `yaml:"email"`
	Name     string `yaml:"name"`
	// EmailVerified defaults to true.
	EmailVerified *bool    `yaml:"email_verified"`
	Groups        []string `yaml:"groups"`
	// PasswordHash is an argon2id PHC string ("$argon2id$v=19$m=..."), or
	// an imported bcrypt, PBKDF2 or scrypt hash, replaced by argon2id at
	// the user's next login (docs/configuration.md#password-hashes).
	PasswordHash string `yaml:"password_hash"`
	// PasswordHashFile is a file holding the password hash, read at
	// start; set it or password_hash, not both (issue 19).
	PasswordHashFile string `yaml:"password_hash_file"`
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
	// The device authorization grant (RFC 8628): how long a device code
	// and its user code live, and the polling interval a device starts
	// with.
	DeviceCodeTTL      Duration `yaml:"device_code_ttl"`
	DevicePollInterval Duration `yaml:"device_poll_interval"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// What a client may introspect (Client.Introspection).
const (
	IntrospectOwn  = "own"
	IntrospectAny  = "any"
	IntrospectNone = "none"
)

// Grant types a client may use.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	// GrantDeviceCode is the device authorization grant (RFC 8628).
	GrantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

// Storage types.
const (
	StorageBadger   = "badger"
	StoragePostgres = "postgres"
)

// Defaults filled in by ApplyDefaults.
const (
	DefaultListen             = "127.0.0.1:5556"
	DefaultStorageType        = StorageBadger
	DefaultSigningAlg         = "RS256"
	DefaultAccessTokenTTL     = 10 * time.Minute
	DefaultIDTokenTTL         = 10 * time.Minute
	DefaultRefreshIdleTTL     = 30 * 24 * time.Hour
	DefaultRefreshAbsoluteTTL = 90 * 24 * time.Hour
	DefaultAuthCodeTTL        = time.Minute
	DefaultAuthRequestTTL     = 15 * time.Minute
	DefaultKeyRotation        = 30 * 24 * time.Hour
	DefaultDeviceCodeTTL      = 10 * time.Minute
	DefaultDevicePollInterval = 5 * time.Second
	DefaultAuditRetention     = 90 * 24 * time.Hour
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
)

// Size is a number of bytes, written in the file as a whole number of
// bytes (104857600) or with a unit: "100MiB", "1GiB" (powers of 1024),
// "100MB", "1GB" (powers of 1000), a space between them allowed.
type Size uint64

// sizeUnits are the units a Size may be written in, by lower-cased name.
var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize reads a Size as the file writes it.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	unit, ok := sizeUnits[strings.ToLower(strings.TrimSpace(s[i:]))]
	if i == 0 || !ok {
		return 0, fmt.Errorf("invalid size %q (write it like \"100MiB\" or \"1GiB\")", s)
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil || n > math.MaxUint64/unit {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(n * unit), nil
}

// String writes s in the largest binary unit that divides it.
func (s Size) String() string {
	for _, u := range []struct {
		name string
		n    uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if s != 0 && uint64(s)%u.n == 0 {
			return strconv.FormatUint(uint64(s)/u.n, 10) + u.name
		}
	}
	return strconv.FormatUint(uint64(s), 10)
}

// UnmarshalYAML reads a whole number or a string with a unit.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

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
	root, err := readDocument(data)
	if err != nil {
		return nil, err
	}
	return fromNode(root)
}

// readDocument parses data into a node tree and returns the content of its
// one document, or nil when the file holds none (empty, or comments only).
func readDocument(data []byte) (root *yaml.Node, err error) {
	defer func() {
		// yaml.v3 panics on a few malformed inputs ("internal error: ...");
		// a broken file deserves an error, not a crash.
		if r := recover(); r != nil {
			root, err = nil, &FieldError{Message: "not valid YAML"}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return root, nil
		} else if err != nil {
			return nil, yamlError(err, data)
		}
		if len(doc.Content) != 1 || emptyDocument(doc.Content[0]) {
			continue
		}
		if root != nil {
			return nil, &FieldError{Message: "the file holds more than one YAML document"}
		}
		root = doc.Content[0]
	}
}

// emptyDocument reports whether n is what the parser makes of a document
// with nothing in it, such as after a trailing "---".
func emptyDocument(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" &&
		n.Style == 0 && n.Anchor == ""
}

// fromNode shape-checks root (nil for an empty file), decodes it, applies
// defaults and validates. The shape check runs first because yaml.v3
// decodes leniently (1 into a string, null list items dropped) and its
// errors quote values.
func fromNode(root *yaml.Node) (*Config, error) { return fromNodeWith(root, nil) }

// fromNodeWith is fromNode with set (if not nil) applied after decoding.
func fromNodeWith(root *yaml.Node, set func(*Config)) (*Config, error) {
	cfg, err := fromNodeAll(root, set)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// fromNodeAll is fromNodeWith returning the decoded configuration with its
// validation errors, for `portico config check` (check.go).
func fromNodeAll(root *yaml.Node, set func(*Config)) (*Config, error) {
	var cfg Config
	if root != nil {
		if isNull(root) { // the whole file is "~" or "null"
			return nil, &FieldError{Message: "expected a mapping, got null"}
		}
		envErrs := expandEnv(root) // env.go
		sc := newShapeChecker()
		sc.check("", root, reflect.TypeFor[Config]())
		if errs := append(envErrs, sc.errs...); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		// Unknown fields, duplicate keys, wrong types and bad durations
		// were all reported above, by path, so a plain (not KnownFields)
		// decode is enough here.
		if err := decodeNode(root, &cfg); err != nil {
			return nil, err
		}
	}
	if set != nil {
		set(&cfg)
	}
	fileErrs := cfg.readSecretFiles() // secretfiles.go
	cfg.ApplyDefaults()
	errs := fileErrs
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err.(interface{ Unwrap() []error }).Unwrap()...)
	}
	if len(errs) > 0 {
		return &cfg, errors.Join(errs...)
	}
	return &cfg, nil
}

func decodeNode(root *yaml.Node, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil { // as in readDocument
			err = &FieldError{Message: "the file could not be decoded"}
		}
	}()
	if err := root.Decode(cfg); err != nil {
		return decodeError(err)
	}
	return nil
}

// yamlError reports a go.yaml.in/yaml/v3 parse error ("yaml: line N:
// problem"). The problems are fixed text, except an unknown alias, which
// names it: "secret: *abc" is an alias, and its name the rest of a secret.
func yamlError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if strings.HasPrefix(msg, "unknown anchor") {
		msg = "an alias (*name) refers to an unknown anchor; quote a value that starts with * or &"
	} else if len(data) <= maxPositioned {
		msg = withPosition(msg, data) // yamlpos.go
	}
	return &FieldError{Message: msg}
}

// maxPositioned bounds the files a second parser reads to find a syntax
// error's column.
const maxPositioned = 4 << 20

var lineRE = regexp.MustCompile(`^line [0-9]+$`)

// decodeError reports an error from decoding the checked tree, which should
// not happen. yaml.v3's decode errors quote the value (the start of a
// secret, say), so only their line numbers are kept.
func decodeError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			line, _, _ := strings.Cut(e, ":")
			if !lineRE.MatchString(line) {
				errs = append(errs, &FieldError{Message: "a value does not fit its field"})
				continue
			}
			errs = append(errs, &FieldError{Message: line + ": the value does not fit its field"})
		}
		return errors.Join(errs...)
	}
	if err.Error() == "yaml: document contains excessive aliasing" {
		return &FieldError{Message: "the file expands too many aliases"}
	}
	return &FieldError{Message: "the file could not be decoded"}
}

// ApplyDefaults fills in every unset field that has a default. Parse calls
// it; call it yourself on a Config built in code before Validate.
func (c *Config) ApplyDefaults() {
	c.Login.applyDefaults()
	c.TokenExchange.applyDefaults()
	c.applySCIMDefaults()
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.Storage.Type == "" {
		c.Storage.Type = DefaultStorageType
	}
	if c.Storage.Type == StoragePostgres && c.Storage.DSN == "" {
		// A default from the environment: the DSN usually holds a
		// password, which the file (often in a repository) should not.
		c.Storage.DSN = os.Getenv(EnvStorageDSN)
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
		{&t.DeviceCodeTTL, DefaultDeviceCodeTTL},
		{&t.DevicePollInterval, DefaultDevicePollInterval},
		{&c.Audit.Retention, DefaultAuditRetention},
	} {
		if *d.f == 0 {
			*d.f = Duration(d.def)
		}
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Admin.Role == "" {
		c.Admin.Role = DefaultAdminRole
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	for i := range c.Clients {
		if len(c.Clients[i].GrantTypes) == 0 {
			c.Clients[i].GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
		}
	}
	if len(c.Registration.DefaultGrantTypes) == 0 {
		c.Registration.DefaultGrantTypes = []string{GrantAuthorizationCode}
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
