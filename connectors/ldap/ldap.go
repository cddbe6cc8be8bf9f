// Package ldap is the connector for LDAP directories, OpenLDAP and Active
// Directory among them: people log in with their directory password, and
// their directory groups are carried into their tokens.
//
// # Search, then bind
//
// A login searches for the typed username with a service account (or
// anonymously, with no bind_dn) under user_search.base_dn, matching any of
// user_search.username_attributes, then binds as the entry found with the
// typed password; the directory checks the password, so its policies
// (lockout, expiry) apply and Portico never sees a hash. Exactly one entry
// must match: none and several are the same sdk.ErrInvalidCredentials to
// the person, and several is also logged for the operator, since it means
// the username attributes are not unique (two people sharing a mail, say)
// and nobody can log in by that value until the directory is fixed.
//
// The username reaches the filter only through ldap.EscapeFilter, so "*",
// parentheses, backslashes and NUL match themselves and nothing else. An
// empty password is refused before any bind: a simple bind with a DN and
// no password is an "unauthenticated bind", which many servers answer with
// success, and it would log anyone in as anyone.
//
// # Who the person is
//
// The subject is user_search.id_attribute: entryUUID on OpenLDAP (RFC
// 4530), objectGUID on Active Directory, whose 16 binary bytes are written
// as a UUID string in Microsoft's byte order (the first three fields are
// little-endian), the form PowerShell and the AD tools show. It is never
// the DN, which changes when an entry is renamed or moved: the broker links
// the subject to one Portico user, so a changed subject would be a
// different person. Email, name and username come from their attributes;
// email_verified is false unless the config says otherwise, because a
// directory does not verify addresses. Identity.Attributes carries the DN
// and any user_search.extra_attributes.
//
// # Groups
//
// Group names come from group entries that list their members, searched
// under group_search.base_dn (groupOfNames/member and
// groupOfUniqueNames/uniqueMember hold member DNs, posixGroup/memberUid holds
// uids: member_value says which), from a memberOf-style attribute on the
// user (user_search.groups_attribute), or both. With group_search.nested,
// the groups of those groups are collected too, level by level, up to
// group_search.max_depth levels; a group already seen is not followed
// again, so cycles end. Groups are read only when the client asked for the
// groups scope.
//
// # Connections
//
// A small pool (pool_size) of connections bound as the service account is
// shared by all logins, so a login costs a few round trips instead of a
// connect, a TLS handshake and a bind. The user's bind happens on the pooled
// connection, and the service account is bound again right after it,
// whatever the result (a failed bind leaves a connection anonymous); if that
// fails the connection is closed, never pooled, so no later login runs with
// a previous person's rights. Connections the directory closed are dropped
// and replaced, and a reused one found dead is retried once on a fresh one,
// so a restarted directory needs no restart of Portico.
//
// Connecting (TCP, TLS, service bind) is bounded by connect_timeout and
// every operation by timeout: a watchdog closes the connection under an
// operation that outlives it or the caller's context. A directory that is
// down, hung or refusing the service account gives errors wrapping
// sdk.ErrUnavailable (the login page answers 503), never a hang and never
// "wrong password".
//
// # Transport
//
// ldaps:// or ldap:// with start_tls: true. Plain ldap:// sends passwords
// in clear and needs insecure_no_tls: true. root_ca or root_ca_data replace
// the system's roots; insecure_skip_verify is allowed but logged as a
// warning at start.
//
// # Refresh
//
// Refresh re-reads the user by subject (not DN, so renames are followed)
// with the same user filter: a user deleted, moved out of the search base or
// filtered out, or no longer matched by user_search.enabled_filter, is
// sdk.ErrUserGone; groups are read afresh.
//
// # What timing tells
//
// An unknown username costs one search and a wrong password a search and
// two binds, so response times can tell whether a username exists. Unlike
// the local connector's argon2 hash, the difference is a network round trip
// of the directory's, and evening it out would mean binding with the typed
// password to a DN that does not exist. Rate limiting of the login form is
// the broker's.
//
// # Active Directory
//
// The defaults suit OpenLDAP (inetOrgPerson, entryUUID, groupOfNames). For
// Active Directory:
//
//	url: ldaps://dc1.corp.example.com
//	bind_dn: CN=portico,OU=Service Accounts,DC=corp,DC=example,DC=com
//	bind_password: ...
//	user_search:
//	  base_dn: OU=Staff,DC=corp,DC=example,DC=com
//	  filter: (&(objectCategory=person)(objectClass=user))
//	  username_attributes: [sAMAccountName, userPrincipalName]
//	  id_attribute: objectGUID
//	  name_attribute: displayName
//	  preferred_username_attribute: sAMAccountName
//	  groups_attribute: memberOf
//	  # userAccountControl bit 2 (ACCOUNTDISABLE) unset
//	  enabled_filter: (!(userAccountControl:1.2.840.113556.1.4.803:=2))
//	group_search:
//	  name_attribute: cn
//	  nested: true
//
// memberOf on AD lists direct groups only (not the primary group, usually
// Domain Users); nested: true reads each group's memberOf in turn.
package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

// maxUsernameLen bounds what is sent to the directory for a username.
const maxUsernameLen = 256

// Connector logs people in against an LDAP directory. It implements
// sdk.PasswordConnector and sdk.RefreshConnector and is safe for concurrent
// use.
type Connector struct {
	cfg       Config
	log       *slog.Logger
	d         *dialer // the first server's; op needs only its timeout
	servers   *servers
	pool      *pool
	userAttrs []string // attributes read from user entries

	// testHookBind, if set, is called with the DN before each user bind.
	testHookBind func(dn string)
}

var (
	_ sdk.PasswordConnector = (*Connector)(nil)
	_ sdk.RefreshConnector  = (*Connector)(nil)
)

// New applies cfg's defaults, validates it and returns a connector. It
// connects once to check the service account: a directory that answers and
// refuses the service bind, or whose certificate is not trusted, is an
// error; one that cannot be reached is logged as a warning, and the
// connector connects when it is first used. log may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	ss, err := newServers(cfg, tc, log)
	if err != nil {
		return nil, err
	}
	c := &Connector{cfg: cfg, log: log, d: ss.list[0].d, servers: ss, userAttrs: userAttributes(cfg)}
	c.pool = newPool(cfg.PoolSize, time.Duration(cfg.Timeout), ss.dial)
	c.pool.usable, c.pool.closed_ = ss.usable, ss.forget
	ss.start(time.Duration(cfg.HealthCheckInterval))

	if cfg.InsecureSkipVerify {
		log.WarnContext(ctx, "ldap: insecure_skip_verify is set: the directory's certificate is not checked, so anyone on the network path can read passwords", "url", cfg.URL)
	}
	if cfg.InsecureNoTLS {
		log.WarnContext(ctx, "ldap: insecure_no_tls is set: passwords cross the network in clear", "url", cfg.URL)
	}
	if err := c.check(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Ping checks the directory now: a connection, the service account's
// bind and a read of every base DN, each failure an error that says which
// — what an administrator's "Test connection" asks. Unlike the check at
// start, an unreachable directory or an unreadable base DN is an error.
func (c *Connector) Ping(ctx context.Context) error {
	return c.withConn(ctx, func(lc *goldap.Conn) error {
		for _, base := range c.bases() {
			req := goldap.NewSearchRequest(base, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, c.timeLimit(), false,
				"(objectClass=*)", []string{"1.1"}, nil)
			if err := c.d.op(ctx, lc, "reading "+base, func() error { _, err := lc.Search(req); return err }); err != nil {
				return fmt.Errorf("ldap: reading base DN %q as the service account: %w", base, err)
			}
		}
		return nil
	})
}

// bases are the base DNs the connector searches.
func (c *Connector) bases() []string {
	bases := []string{c.cfg.UserSearch.BaseDN}
	for _, gs := range c.cfg.groupSearches() {
		bases = append(bases, gs.BaseDN)
	}
	return uniqueFold(bases)
}

// check connects once at start, binding the service account and looking
// at the base DNs.
func (c *Connector) check(ctx context.Context) error {
	err := c.withConn(ctx, func(lc *goldap.Conn) error {
		for _, base := range c.bases() {
			req := goldap.NewSearchRequest(base, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, c.timeLimit(), false,
				"(objectClass=*)", []string{"1.1"}, nil)
			err := c.d.op(ctx, lc, "reading "+base, func() error { _, err := lc.Search(req); return err })
			if code, ok := resultCode(err); ok {
				c.log.WarnContext(ctx, "ldap: cannot read a base DN as the service account", "base_dn", base, "code", code, "err", err)
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	// The directory answered, and not with "busy" or the like: what it
	// refused is in the config.
	if code, ok := resultCode(err); ok && !transient(code) {
		if errors.Is(err, errServiceBind) {
			return fmt.Errorf("ldap: config.bind_dn: %q: %w", c.cfg.BindDN, err)
		}
		return fmt.Errorf("ldap: config.url: %s: %w", c.cfg.URL, err)
	}
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	if errors.As(err, &ua) || errors.As(err, &he) {
		return fmt.Errorf("ldap: config.root_ca: the directory's certificate is not trusted: %w", err)
	}
	c.log.WarnContext(ctx, "ldap: directory unreachable at start; logins will fail with 503 until it answers", "url", c.cfg.URL, "err", err)
	return nil
}

// Close closes the pooled connections. Logins after Close fail with
// sdk.ErrUnavailable.
// PoolStats reports the directory connections in use and idle, for the
// operator's metrics.
func (c *Connector) PoolStats() (inUse, idle int) { return c.pool.stats() }

func (c *Connector) Close() error {
	c.servers.stop()
	c.pool.close()
	return nil
}

// Login checks username and password against the directory. It returns
// sdk.ErrInvalidCredentials, unwrapped, for an empty, unknown or ambiguous
// username, a wrong or empty password and a disabled account alike, and an
// error wrapping sdk.ErrUnavailable when the directory cannot be asked.
// After a right password it may return sdk.ErrPasswordExpired,
// sdk.ErrPasswordMustChange or sdk.ErrAccountLocked (passwordstate.go).
func (c *Connector) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	if username == "" || password == "" || len(username) > maxUsernameLen || !utf8.ValidString(username) {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	var id sdk.Identity
	err := c.withConn(ctx, func(lc *goldap.Conn) error {
		e, err := c.findUser(ctx, lc, username)
		if err != nil {
			return err
		}
		if err := c.bindUser(ctx, lc, e.DN, password); err != nil {
			return err
		}
		if ok, err := c.enabled(ctx, lc, e.DN); err != nil {
			return err
		} else if !ok {
			c.log.InfoContext(ctx, "ldap: login refused: account disabled (enabled_filter does not match)", "dn", e.DN)
			return sdk.ErrInvalidCredentials
		}
		if disabled, state := c.accountControl(ctx, e); disabled {
			c.log.InfoContext(ctx, "ldap: login refused: account disabled ("+c.cfg.UserSearch.AccountControlAttribute+")", "dn", e.DN)
			return sdk.ErrInvalidCredentials
		} else if state != nil {
			c.log.InfoContext(ctx, "ldap: login refused: "+state.Error(), "dn", e.DN)
			return state
		}
		id, err = c.identity(ctx, lc, s, e)
		return err
	})
	if err != nil {
		return sdk.Identity{}, err
	}
	return id, nil
}

// Refresh re-reads the user by subject. It returns an error wrapping
// sdk.ErrUserGone if the user no longer exists under the search base,
// no longer matches the user filter or the enabled filter, and one wrapping
// sdk.ErrUnavailable if the directory cannot be asked.
func (c *Connector) Refresh(ctx context.Context, s sdk.Scopes, prev sdk.Identity) (sdk.Identity, error) {
	raw, err := c.rawID(prev.Subject)
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("ldap: refresh: %w: %w", err, sdk.ErrUserGone)
	}
	var id sdk.Identity
	err = c.withConn(ctx, func(lc *goldap.Conn) error {
		attr := c.cfg.UserSearch.IDAttribute
		filter := "(&" + c.cfg.UserSearch.Filter + "(" + attr + "=" + escapeBytes(raw) + "))"
		es, err := c.searchUsers(ctx, lc, filter)
		if err != nil {
			return err
		}
		switch len(es) {
		case 0:
			c.log.InfoContext(ctx, "ldap: refresh: user gone (deleted, moved or filtered out)", attr, prev.Subject)
			return fmt.Errorf("ldap: no entry with %s %q: %w", attr, prev.Subject, sdk.ErrUserGone)
		case 1:
		default:
			c.log.ErrorContext(ctx, "ldap: refresh: several entries share one id; check user_search.id_attribute", attr, prev.Subject, "entries", len(es))
			return fmt.Errorf("ldap: %d entries with %s %q: %w", len(es), attr, prev.Subject, sdk.ErrUserGone)
		}
		e := es[0]
		if disabled, _ := c.accountControl(ctx, e); disabled {
			c.log.InfoContext(ctx, "ldap: refresh: account disabled", "dn", e.DN)
			return fmt.Errorf("ldap: %s is disabled: %w", e.DN, sdk.ErrUserGone)
		}
		if ok, err := c.enabled(ctx, lc, e.DN); err != nil {
			return err
		} else if !ok {
			c.log.InfoContext(ctx, "ldap: refresh: account disabled", "dn", e.DN)
			return fmt.Errorf("ldap: %s is disabled: %w", e.DN, sdk.ErrUserGone)
		}
		id, err = c.identity(ctx, lc, s, e)
		return err
	})
	if err != nil {
		return sdk.Identity{}, err
	}
	return id, nil
}

// findUser returns the one entry username matches, or
// sdk.ErrInvalidCredentials if none or several do.
func (c *Connector) findUser(ctx context.Context, lc *goldap.Conn, username string) (*goldap.Entry, error) {
	v := goldap.EscapeFilter(username)
	var b strings.Builder
	b.WriteString("(&" + c.cfg.UserSearch.Filter + "(|")
	for _, a := range c.cfg.UserSearch.UsernameAttributes {
		b.WriteString("(" + a + "=" + v + ")")
	}
	b.WriteString("))")
	es, err := c.searchUsers(ctx, lc, b.String())
	if err != nil {
		return nil, err
	}
	switch len(es) {
	case 1:
		return es[0], nil
	case 0:
		c.log.DebugContext(ctx, "ldap: login refused: no such user")
		return nil, sdk.ErrInvalidCredentials
	default:
		dns := make([]string, len(es))
		for i, e := range es {
			dns[i] = e.DN
		}
		c.log.WarnContext(ctx, "ldap: login refused: the username matches several entries; make user_search.username_attributes unique or narrow user_search.filter",
			"username", username, "entries", dns)
		return nil, sdk.ErrInvalidCredentials
	}
}

// searchUsers returns at most two entries matching filter under the user
// base: two are enough to know there are several.
func (c *Connector) searchUsers(ctx context.Context, lc *goldap.Conn, filter string) ([]*goldap.Entry, error) {
	u := c.cfg.UserSearch
	req := goldap.NewSearchRequest(u.BaseDN, scope(u.Scope), goldap.NeverDerefAliases, 2, c.timeLimit(), false,
		filter, c.userAttrs, nil)
	var res *goldap.SearchResult
	err := c.d.op(ctx, lc, "searching users", func() (err error) { res, err = lc.Search(req); return err })
	if code, ok := resultCode(err); ok && code == goldap.LDAPResultSizeLimitExceeded && res != nil && len(res.Entries) > 1 {
		return res.Entries, nil // more than two: several all the same
	}
	if code, ok := resultCode(err); ok {
		if code == goldap.LDAPResultNoSuchObject {
			c.log.ErrorContext(ctx, "ldap: user_search.base_dn does not exist", "base_dn", u.BaseDN)
		}
		return nil, fmt.Errorf("%w: ldap: searching users under %s: %w", sdk.ErrUnavailable, u.BaseDN, err)
	}
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// bindUser binds as dn with password, then binds the service account again
// (or closes lc), so that lc never goes back to the pool with the user's
// rights, or anonymous after a failed bind.
func (c *Connector) bindUser(ctx context.Context, lc *goldap.Conn, dn, password string) error {
	if password == "" { // Login checks too; an empty password must never reach a bind
		return sdk.ErrInvalidCredentials
	}
	if c.testHookBind != nil {
		c.testHookBind(dn)
	}
	// The password policy request control asks OpenLDAP's ppolicy for
	// its response control; other servers ignore it (not critical).
	var res *goldap.SimpleBindResult
	err := c.d.op(ctx, lc, "bind as "+dn, func() (err error) {
		res, err = lc.SimpleBind(goldap.NewSimpleBindRequest(dn, password, []goldap.Control{goldap.NewControlBeheraPasswordPolicy()}))
		return err
	})
	if !lc.IsClosing() {
		rerr := c.d.op(ctx, lc, "bind back as the service account", func() error { return c.bindService(lc) })
		if rerr != nil {
			lc.Close()
			if err == nil {
				if _, ok := resultCode(rerr); ok {
					rerr = fmt.Errorf("%w: ldap: bind back as the service account: %w", sdk.ErrUnavailable, rerr)
				}
				return rerr
			}
		}
	}
	if err == nil {
		return c.acceptedState(ctx, dn, res)
	}
	code, ok := resultCode(err)
	switch {
	case !ok:
		return err // wraps sdk.ErrUnavailable
	case code == goldap.LDAPResultInvalidCredentials:
		if state := c.refusedState(ctx, dn, res, err); state != nil {
			return state
		}
		c.log.DebugContext(ctx, "ldap: login refused: wrong password", "dn", dn)
		return sdk.ErrInvalidCredentials
	case transient(code):
		return fmt.Errorf("%w: ldap: bind as %s: %w", sdk.ErrUnavailable, dn, err)
	default:
		// inappropriateAuthentication, unwillingToPerform, constraint
		// violations...: the directory will not let this person in.
		c.log.InfoContext(ctx, "ldap: login refused by the directory", "dn", dn, "err", err)
		return sdk.ErrInvalidCredentials
	}
}

// transient reports whether an LDAP result code says "not now" (the
// directory is busy, shutting down, over a limit) rather than "no".
func transient(code uint16) bool {
	switch code {
	case goldap.LDAPResultBusy, goldap.LDAPResultUnavailable, goldap.LDAPResultOther,
		goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultAdminLimitExceeded:
		return true
	}
	return false
}

func (c *Connector) bindService(lc *goldap.Conn) error {
	if c.cfg.BindDN == "" {
		return lc.UnauthenticatedBind("") // back to anonymous
	}
	return lc.Bind(c.cfg.BindDN, c.cfg.BindPassword)
}

// enabled reports whether dn matches user_search.enabled_filter (true if
// there is none).
func (c *Connector) enabled(ctx context.Context, lc *goldap.Conn, dn string) (bool, error) {
	f := c.cfg.UserSearch.EnabledFilter
	if f == "" {
		return true, nil
	}
	req := goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 1, c.timeLimit(), false,
		f, []string{"1.1"}, nil)
	var res *goldap.SearchResult
	err := c.d.op(ctx, lc, "checking enabled_filter", func() (err error) { res, err = lc.Search(req); return err })
	if code, ok := resultCode(err); ok && code == goldap.LDAPResultNoSuchObject {
		return false, nil
	} else if ok {
		return false, fmt.Errorf("%w: ldap: checking enabled_filter on %s: %w", sdk.ErrUnavailable, dn, err)
	} else if err != nil {
		return false, err
	}
	return len(res.Entries) == 1, nil
}

// timeLimit is the server-side time limit of searches, in whole seconds.
func (c *Connector) timeLimit() int {
	return int((time.Duration(c.cfg.Timeout) + time.Second - 1) / time.Second)
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	u := hostOf(cfg.URL)
	tc := &tls.Config{ServerName: u, MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.RootCA == "" && cfg.RootCAData == "" {
		return tc, nil
	}
	tc.RootCAs = x509.NewCertPool()
	if cfg.RootCA != "" {
		pem, err := readPEMFile(cfg.RootCA)
		if err != nil {
			return nil, fmt.Errorf("ldap: config.root_ca: %w", err)
		}
		tc.RootCAs.AppendCertsFromPEM(pem)
	}
	tc.RootCAs.AppendCertsFromPEM([]byte(cfg.RootCAData))
	return tc, nil
}

// userAttributes lists what user searches ask for: everything the identity
// and the group lookups read, once each.
func userAttributes(cfg Config) []string {
	u := cfg.UserSearch
	attrs := append([]string{u.IDAttribute, u.EmailAttribute, u.NameAttribute, u.PreferredUsernameAttribute, u.GroupsAttribute, u.AccountControlAttribute}, u.UsernameAttributes...)
	for _, g := range cfg.groupSearches() {
		if !strings.EqualFold(g.MemberValue, "dn") {
			attrs = append(attrs, g.MemberValue)
		}
	}
	attrs = append(attrs, u.ExtraAttributes...)
	return uniqueFold(attrs)
}
