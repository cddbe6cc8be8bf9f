package ldap

import (
	"github.com/portico-idp/portico/sdk/upstream"

	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Defaults for an OpenLDAP directory (inetOrgPerson, groupOfNames).
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultTimeout        = 10 * time.Second
	DefaultPoolSize       = 4
	DefaultUserFilter     = "(objectClass=person)"
	// DefaultGroupFilter is the group filter for member_attribute member
	// (OpenLDAP's groupOfNames, AD's group); uniqueMember defaults to
	// groupOfUniqueNames and memberUid to posixGroup (see defaultFilter).
	DefaultGroupFilter         = "(|(objectClass=groupOfNames)(objectClass=group))"
	DefaultMaxDepth            = 10
	DefaultHealthCheckInterval = 10 * time.Second
	DefaultPageSize            = 500

	maxURLs          = 16
	maxGroupSearches = 16
	maxPageSize      = 10000

	maxPoolSize = 64
	maxMaxDepth = 32
	maxTimeout  = 5 * time.Minute
)

// Config configures a Connector. The broker passes the connector's YAML
// config block converted to JSON to ParseConfig; Go callers may fill it in
// directly and have New apply the defaults and validate it.
type Config struct {
	// URL of the directory: ldaps://host[:636] or ldap://host[:389]. An
	// ldap:// URL needs StartTLS or an explicit InsecureNoTLS.
	URL string `json:"url"`
	// StartTLS upgrades an ldap:// connection to TLS before anything else is
	// sent.
	StartTLS bool `json:"start_tls,omitempty"`
	// InsecureNoTLS allows plain ldap:// without TLS: passwords cross the
	// network in clear. For a directory on the same host or in tests only.
	InsecureNoTLS bool `json:"insecure_no_tls,omitempty"`
	// InsecureSkipVerify accepts any server certificate. It is logged as a
	// warning at start; use RootCA instead.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// RootCA is a PEM file of CA certificates to trust instead of the
	// system's; RootCAData is the same as a string. Both may be given.
	RootCA     string `json:"root_ca,omitempty"`
	RootCAData string `json:"root_ca_data,omitempty"`

	// BindDN and BindPassword are the service account the connector
	// searches as. Both empty means anonymous searches. The password is
	// never logged.
	BindDN       string `json:"bind_dn,omitempty"`
	BindPassword string `json:"bind_password,omitempty"`

	// ConnectTimeout bounds a TCP connect plus TLS handshake and the service
	// bind (default 5s); Timeout bounds every other LDAP operation (default
	// 10s). Durations are strings such as "3s" or "500ms".
	ConnectTimeout Duration `json:"connect_timeout,omitempty"`
	Timeout        Duration `json:"timeout,omitempty"`
	// PoolSize is how many service-account connections are kept and how
	// many logins talk to the directory at once (default 4, at most 64).
	PoolSize int `json:"pool_size,omitempty"`

	// EmailVerified sets email_verified on every identity with an email.
	// Directories do not verify addresses, so the default is false; set it
	// only when the mail attribute is assigned by the organisation.
	EmailVerified bool `json:"email_verified,omitempty"`

	UserSearch  UserSearch  `json:"user_search"`
	GroupSearch GroupSearch `json:"group_search,omitzero"`

	// Added for directories as they are (issue 18).

	// URLs are several servers of one directory, tried in order: a server
	// that fails to connect or answer is skipped until the health check
	// sees it back. URL alone is a one-element URLs.
	URLs []string `json:"urls,omitempty"`
	// HealthCheckInterval is how often a server marked down is tried
	// again in the background (default 10s).
	HealthCheckInterval Duration `json:"health_check_interval,omitempty"`
	// GroupSearches are several group searches, each with its own base,
	// filter and member attribute; their groups are merged. GroupSearch
	// with a base_dn is a one-element GroupSearches.
	GroupSearches []GroupSearch `json:"group_searches,omitempty"`
	// NestedGroups collects the groups of groups, across every search and
	// GroupsAttribute, MaxGroupDepth levels in all (default 10, at most
	// 32). group_search.nested and max_depth are the older spelling.
	NestedGroups  bool `json:"nested_groups,omitempty"`
	MaxGroupDepth int  `json:"max_group_depth,omitempty"`
	// PageSize is the page size of group searches (RFC 2696 paged
	// results), so that a server's size limit does not cut them short
	// (default 500).
	PageSize int `json:"page_size,omitempty"`
	// RevealLocked shows "account locked" when the directory says so at
	// bind even though it does not say whether the password was right
	// (OpenLDAP ppolicy accountLocked, AD "data 775"): whoever types a
	// username then learns that the account exists and is locked. Off by
	// default: such a login gets "invalid username or password".
	RevealLocked bool `json:"reveal_locked,omitempty"`
}

// UserSearch says how to find a user and read their identity.
type UserSearch struct {
	// BaseDN is where users are searched for (required).
	BaseDN string `json:"base_dn"`
	// Scope is "sub" (the default: the whole subtree) or "one" (direct
	// children of BaseDN only).
	Scope string `json:"scope,omitempty"`
	// Filter selects user entries; the username match is ANDed to it
	// (default "(objectClass=person)").
	Filter string `json:"filter,omitempty"`
	// UsernameAttributes are the attributes a typed username may match,
	// any of them (default ["uid"]). Exactly one entry must match.
	UsernameAttributes []string `json:"username_attributes,omitempty"`
	// IDAttribute holds the stable subject: an id that survives renames
	// and moves, not the DN (default "entryUUID"; objectGUID on AD, whose
	// binary value becomes a UUID string).
	IDAttribute string `json:"id_attribute,omitempty"`
	// EmailAttribute (default "mail"), NameAttribute (default "cn") and
	// PreferredUsernameAttribute (default the first UsernameAttributes)
	// fill the identity's email, name and username.
	EmailAttribute             string `json:"email_attribute,omitempty"`
	NameAttribute              string `json:"name_attribute,omitempty"`
	PreferredUsernameAttribute string `json:"preferred_username_attribute,omitempty"`
	// GroupsAttribute, if set (usually "memberOf"), holds the DNs of the
	// groups the user is in.
	GroupsAttribute string `json:"groups_attribute,omitempty"`
	// EnabledFilter, if set, must match the user's entry at login and at
	// every refresh; a user it does not match is disabled.
	EnabledFilter string `json:"enabled_filter,omitempty"`
	// ExtraAttributes are copied, as text, into the identity's Attributes.
	ExtraAttributes []string `json:"extra_attributes,omitempty"`
	// AccountControlAttribute, if set, is Active Directory's account
	// control bit field, read after a right password: userAccountControl,
	// or msDS-User-Account-Control-Computed (which AD keeps the lockout
	// and password-expired bits in). ACCOUNTDISABLE (0x2) refuses the
	// login as a disabled account; LOCKOUT (0x10) says the account is
	// locked; PASSWORD_EXPIRED (0x800000) that the password expired.
	AccountControlAttribute string `json:"account_control_attribute,omitempty"`
}

// GroupSearch says how to find a user's groups in group entries that list
// their members. With BaseDN empty there is no group search, and groups
// come from UserSearch.GroupsAttribute alone (if set).
type GroupSearch struct {
	BaseDN string `json:"base_dn,omitempty"`
	// Scope is "sub" (default) or "one".
	Scope string `json:"scope,omitempty"`
	// Filter selects group entries (default: groupOfNames,
	// groupOfUniqueNames and posixGroup entries).
	Filter string `json:"filter,omitempty"`
	// MemberAttribute lists a group's members: member (default),
	// uniqueMember or memberUid.
	MemberAttribute string `json:"member_attribute,omitempty"`
	// MemberValue is what MemberAttribute holds for a user: "dn" (default,
	// for member and uniqueMember) or the name of a user attribute ("uid"
	// for memberUid).
	MemberValue string `json:"member_value,omitempty"`
	// NameAttribute of a group entry is the group's name in the identity
	// (default "cn"). It also names groups found through GroupsAttribute.
	NameAttribute string `json:"name_attribute,omitempty"`
	// Nested also collects the groups that contain the user's groups, and
	// so on up, MaxDepth levels in all counting the user's own groups as
	// the first (default 5, at most 32). Cycles are followed once.
	Nested   bool `json:"nested,omitempty"`
	MaxDepth int  `json:"max_depth,omitempty"`
	// InChain (Active Directory) searches with LDAP_MATCHING_RULE_IN_CHAIN
	// (1.2.840.113556.1.4.1941): AD returns the groups the user is in,
	// nested ones included, in one query. Needs member_value "dn".
	InChain bool `json:"in_chain,omitempty"`
}

// Duration is a time.Duration written in JSON as a string ("5s").
type Duration = upstream.Duration

// ParseConfig decodes the connector's JSON config, refusing unknown fields,
// applies the defaults and validates it. Errors name the field, as in
// "ldap: config.user_search.base_dn: required".
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := upstream.DecodeStrict("ldap: config", raw, &c); err != nil {
		return Config{}, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// setDefaults fills in what is left empty. It is idempotent.
func (c *Config) setDefaults() {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = Duration(DefaultConnectTimeout)
	}
	if c.Timeout == 0 {
		c.Timeout = Duration(DefaultTimeout)
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	u := &c.UserSearch
	def(&u.Scope, "sub")
	def(&u.Filter, DefaultUserFilter)
	if len(u.UsernameAttributes) == 0 {
		u.UsernameAttributes = []string{"uid"}
	}
	def(&u.IDAttribute, "entryUUID")
	def(&u.EmailAttribute, "mail")
	def(&u.NameAttribute, "cn")
	def(&u.PreferredUsernameAttribute, u.UsernameAttributes[0])
	g := &c.GroupSearch
	def(&g.NameAttribute, "cn")
	if g.BaseDN != "" {
		g.setDefaults()
	}
	if g.Nested && g.MaxDepth == 0 {
		g.MaxDepth = DefaultMaxDepth
	}
	for i := range c.GroupSearches {
		def(&c.GroupSearches[i].NameAttribute, "cn")
		c.GroupSearches[i].setDefaults()
	}
	if c.NestedGroups && c.MaxGroupDepth == 0 {
		c.MaxGroupDepth = DefaultMaxDepth
	}
	if len(c.URLs) == 0 && c.URL != "" {
		c.URLs = []string{c.URL}
	} else if c.URL == "" && len(c.URLs) > 0 {
		c.URL = c.URLs[0]
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = Duration(DefaultHealthCheckInterval)
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
}

// setDefaults fills in a group search with a base DN. The filter follows
// the member attribute, so that the defaults never search entries that
// cannot hold it (posixGroups have no member attribute).
func (g *GroupSearch) setDefaults() {
	def(&g.Scope, "sub")
	def(&g.MemberAttribute, "member")
	switch strings.ToLower(g.MemberAttribute) {
	case "memberuid":
		def(&g.MemberValue, "uid")
		def(&g.Filter, "(objectClass=posixGroup)")
	case "uniquemember":
		def(&g.Filter, "(objectClass=groupOfUniqueNames)")
	case "member":
		def(&g.Filter, DefaultGroupFilter)
	default:
		def(&g.Filter, "(objectClass=*)")
	}
	def(&g.MemberValue, "dn")
}

// groupSearches are the group searches in effect: group_searches, or
// group_search if it has a base DN.
func (c *Config) groupSearches() []GroupSearch {
	if len(c.GroupSearches) > 0 {
		return c.GroupSearches
	}
	if c.GroupSearch.BaseDN != "" {
		return []GroupSearch{c.GroupSearch}
	}
	return nil
}

// nesting says whether nested groups are followed, and how many levels in
// all.
func (c *Config) nesting() (bool, int) {
	if c.NestedGroups {
		return true, c.MaxGroupDepth
	}
	if c.GroupSearch.Nested {
		return true, c.GroupSearch.MaxDepth
	}
	return false, 1
}

func def(s *string, v string) {
	if *s == "" {
		*s = v
	}
}

// Validate checks a Config with its defaults applied. Every problem is
// reported, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("ldap: config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	c.validateTransport(bad)
	if c.BindDN != "" {
		checkDN(bad, "bind_dn", c.BindDN)
		if c.BindPassword == "" {
			bad("bind_password", "required with bind_dn (an empty password would be an unauthenticated bind)")
		}
	} else if c.BindPassword != "" {
		bad("bind_dn", "required with bind_password")
	}
	checkDuration(bad, "connect_timeout", c.ConnectTimeout)
	checkDuration(bad, "timeout", c.Timeout)
	if c.PoolSize < 1 || c.PoolSize > maxPoolSize {
		bad("pool_size", "%d is out of range [1, %d]", c.PoolSize, maxPoolSize)
	}

	u := c.UserSearch
	if u.BaseDN == "" {
		bad("user_search.base_dn", "required")
	} else {
		checkDN(bad, "user_search.base_dn", u.BaseDN)
	}
	checkScope(bad, "user_search.scope", u.Scope)
	checkFilter(bad, "user_search.filter", u.Filter)
	for i, a := range u.UsernameAttributes {
		checkAttr(bad, fmt.Sprintf("user_search.username_attributes[%d]", i), a)
	}
	if strings.EqualFold(u.IDAttribute, "dn") || strings.EqualFold(u.IDAttribute, "distinguishedName") {
		bad("user_search.id_attribute", "the DN changes when an entry is renamed or moved; use an immutable id such as entryUUID or objectGUID")
	} else {
		checkAttr(bad, "user_search.id_attribute", u.IDAttribute)
	}
	checkAttr(bad, "user_search.email_attribute", u.EmailAttribute)
	checkAttr(bad, "user_search.name_attribute", u.NameAttribute)
	checkAttr(bad, "user_search.preferred_username_attribute", u.PreferredUsernameAttribute)
	if u.GroupsAttribute != "" {
		checkAttr(bad, "user_search.groups_attribute", u.GroupsAttribute)
	}
	if u.EnabledFilter != "" {
		checkFilter(bad, "user_search.enabled_filter", u.EnabledFilter)
	}
	for i, a := range u.ExtraAttributes {
		checkAttr(bad, fmt.Sprintf("user_search.extra_attributes[%d]", i), a)
	}

	if u.AccountControlAttribute != "" {
		checkAttr(bad, "user_search.account_control_attribute", u.AccountControlAttribute)
	}

	g := c.GroupSearch
	checkAttr(bad, "group_search.name_attribute", g.NameAttribute)
	if g.BaseDN == "" {
		if g.Scope != "" || g.Filter != "" || g.MemberAttribute != "" || g.MemberValue != "" || g.InChain {
			bad("group_search.base_dn", "required with group_search.scope, filter, member_attribute, member_value or in_chain")
		}
	} else {
		if len(c.GroupSearches) > 0 {
			bad("group_search.base_dn", "set with group_searches: put this search in group_searches")
		}
		g.validate(bad, "group_search")
	}
	if len(c.GroupSearches) > maxGroupSearches {
		bad("group_searches", "%d searches, at most %d", len(c.GroupSearches), maxGroupSearches)
	}
	for i, gs := range c.GroupSearches {
		field := fmt.Sprintf("group_searches[%d]", i)
		if gs.BaseDN == "" {
			bad(field+".base_dn", "required")
		} else {
			gs.validate(bad, field)
		}
		if gs.Nested || gs.MaxDepth != 0 {
			bad(field+".nested", "nesting is for all searches: set nested_groups and max_group_depth")
		}
	}
	if g.Nested {
		if g.MaxDepth < 1 || g.MaxDepth > maxMaxDepth {
			bad("group_search.max_depth", "%d is out of range [1, %d]", g.MaxDepth, maxMaxDepth)
		}
		if c.NestedGroups {
			bad("group_search.nested", "set with nested_groups: keep one")
		}
	} else if g.MaxDepth != 0 {
		bad("group_search.max_depth", "set without group_search.nested")
	}
	if c.NestedGroups {
		if c.MaxGroupDepth < 1 || c.MaxGroupDepth > maxMaxDepth {
			bad("max_group_depth", "%d is out of range [1, %d]", c.MaxGroupDepth, maxMaxDepth)
		}
	} else if c.MaxGroupDepth != 0 {
		bad("max_group_depth", "set without nested_groups")
	}
	if nested, _ := c.nesting(); nested && len(c.groupSearches()) == 0 && u.GroupsAttribute == "" {
		bad("nested_groups", "needs group searches (group_searches) or user_search.groups_attribute")
	}
	checkDuration(bad, "health_check_interval", c.HealthCheckInterval)
	if c.PageSize < 1 || c.PageSize > maxPageSize {
		bad("page_size", "%d is out of range [1, %d]", c.PageSize, maxPageSize)
	}
	return errors.Join(errs...)
}

func (g GroupSearch) validate(bad func(string, string, ...any), field string) {
	checkDN(bad, field+".base_dn", g.BaseDN)
	checkScope(bad, field+".scope", g.Scope)
	checkFilter(bad, field+".filter", g.Filter)
	checkAttr(bad, field+".member_attribute", g.MemberAttribute)
	checkAttr(bad, field+".name_attribute", g.NameAttribute)
	if !strings.EqualFold(g.MemberValue, "dn") {
		checkAttr(bad, field+".member_value", g.MemberValue)
		if g.InChain {
			bad(field+".in_chain", "needs member_value \"dn\" (the matching rule compares DNs)")
		}
	}
}

func (c *Config) validateTransport(bad func(string, string, ...any)) {
	if c.URL == "" {
		bad("url", "required")
		return
	}
	if len(c.URLs) > maxURLs {
		bad("urls", "%d URLs, at most %d", len(c.URLs), maxURLs)
	}
	if len(c.URLs) > 0 && c.URL != c.URLs[0] {
		bad("url", "set with urls: keep one (urls may hold one URL)")
	}
	var scheme string
	for i, raw := range c.URLs {
		field := "url"
		if len(c.URLs) > 1 {
			field = fmt.Sprintf("urls[%d]", i)
		}
		c.validateURL(bad, field, raw)
		if u, err := url.Parse(raw); err == nil {
			if scheme != "" && u.Scheme != scheme {
				bad(field, "every URL must use the same scheme (%s), since TLS settings are shared", scheme)
			}
			scheme = u.Scheme
		}
	}
	if len(c.URLs) == 0 {
		c.validateURL(bad, "url", c.URL)
	}
	if c.InsecureNoTLS {
		if c.InsecureSkipVerify || c.RootCA != "" || c.RootCAData != "" {
			bad("insecure_no_tls", "set with insecure_skip_verify, root_ca or root_ca_data, which are for TLS")
		}
	}
	if c.RootCA != "" {
		pem, err := readPEMFile(c.RootCA)
		if err != nil {
			bad("root_ca", "%v", err)
		} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			bad("root_ca", "no PEM certificate in %s", c.RootCA)
		}
	}
	if c.RootCAData != "" && !x509.NewCertPool().AppendCertsFromPEM([]byte(c.RootCAData)) {
		bad("root_ca_data", "no PEM certificate")
	}
}

func (c *Config) validateURL(bad func(string, string, ...any), field, raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		bad(field, "%v", err)
		return
	}
	switch {
	case u.Scheme != "ldap" && u.Scheme != "ldaps":
		bad(field, "scheme must be ldap or ldaps, not %q", u.Scheme)
	case u.Hostname() == "":
		bad(field, "no host in %q", raw)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		bad(field, "only ldap[s]://host[:port] is accepted; put DNs and filters in user_search and group_search")
	case u.Scheme == "ldaps" && c.StartTLS:
		bad("start_tls", "ldaps:// is TLS already; StartTLS is for ldap://")
	case u.Scheme == "ldap" && !c.StartTLS && !c.InsecureNoTLS:
		bad(field, "ldap:// without TLS sends passwords in clear: use ldaps://, or start_tls: true, or (for tests) insecure_no_tls: true")
	case c.InsecureNoTLS && (u.Scheme == "ldaps" || c.StartTLS):
		bad("insecure_no_tls", "contradicts ldaps:// and start_tls, which use TLS")
	}
}

// readPEMFile reads a CA bundle, refusing absurd sizes (a path such as
// /dev/zero must not eat the memory).
func readPEMFile(path string) ([]byte, error) {
	const max = 4 << 20
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && len(b) > max {
		err = fmt.Errorf("%s is larger than %d MiB", path, max>>20)
	}
	return b, err
}

// attrRE is an attribute description (RFC 4512): a name or numeric OID,
// with options.
var attrRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

func checkAttr(bad func(string, string, ...any), field, a string) {
	if a == "" {
		bad(field, "required")
	} else if !attrRE.MatchString(a) {
		bad(field, "%q is not an attribute name", a)
	}
}

func checkDuration(bad func(string, string, ...any), field string, d Duration) {
	if d <= 0 || time.Duration(d) > maxTimeout {
		bad(field, "%v is out of range (0, %v]", time.Duration(d), maxTimeout)
	}
}

func checkDN(bad func(string, string, ...any), field, dn string) {
	if _, err := goldap.ParseDN(dn); err != nil {
		bad(field, "%q does not parse as a DN: %v", dn, err)
	}
}

func checkFilter(bad func(string, string, ...any), field, f string) {
	if !strings.HasPrefix(f, "(") {
		bad(field, "%q must be in parentheses", f)
	} else if _, err := goldap.CompileFilter(f); err != nil {
		bad(field, "%q does not parse as a filter: %v", f, err)
	}
}

func checkScope(bad func(string, string, ...any), field, s string) {
	if s != "sub" && s != "one" {
		bad(field, "%q must be \"sub\" or \"one\"", s)
	}
}

func scope(s string) int {
	if s == "one" {
		return goldap.ScopeSingleLevel
	}
	return goldap.ScopeWholeSubtree
}
