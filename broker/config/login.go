package config

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Login configures the login journey: the single sign-on session, second
// factors, consent and brute-force protection (docs/login.md).
type Login struct {
	// Session is the browser's single sign-on session.
	Session Session `yaml:"session"`
	// MFA says which logins must add a second factor
	// ([login.md](login.md#second-factors)).
	MFA MFA `yaml:"mfa"`
	// Throttle is brute-force protection and rate limits
	// ([login.md](login.md#brute-force-protection)).
	Throttle Throttle `yaml:"throttle"`
	// Theme is the pages' look and wording
	// ([login.md](login.md#pages-theme-wording)).
	Theme Theme `yaml:"theme"`
	// Passkeys turns WebAuthn on: passkeys as a second factor and, with
	// Passwordless, as the only one.
	Passkeys Passkeys `yaml:"passkeys"`
	// Account is the account page a person looks after themselves from
	// ([login.md](login.md#the-account-page)).
	Account Account `yaml:"account"`
	// Hash bounds the memory that password hashing takes
	// ([login.md](login.md#password-hashing-memory)).
	Hash Hash `yaml:"hash"`
}

// Hash configures password hashing (argon2id) for local accounts.
type Hash struct {
	// MemoryBudget is the argon2id memory that hashes may hold at once,
	// across every local connector and password change: each holds 64
	// MiB (RFC 9106's second option), so `256MiB` lets four run at once
	// and the rest wait (a login waiting over 2 s is answered "try
	// later"). At least one runs whatever the budget. Unset: one per CPU
	// (GOMAXPROCS). Under a login storm the process's peak stays within
	// about twice the budget above its idle size (the Go heap's garbage
	// and fragmentation besides the hashes in flight).
	MemoryBudget Size `yaml:"memory_budget"`
	// QueueTimeout is how long a login (or a password change) waits for
	// its turn to hash before it is answered "try later" (503). Unset:
	// 2s; at most 1m.
	QueueTimeout Duration `yaml:"queue_timeout"`
}

// Account configures the account page (/account).
type Account struct {
	// FreshLogin is how recent the person's login must be for a change
	// to their second factors or password on the account page; an older
	// one logs in again first. Unset: 10m; at most 24h.
	FreshLogin Duration `yaml:"fresh_login"`
}

// DefaultAccountFreshLogin is Account.FreshLogin unless set.
const DefaultAccountFreshLogin = 10 * time.Minute

// Passkeys configures WebAuthn. The relying party id is the issuer's
// host, and the origin the issuer's scheme and host.
type Passkeys struct {
	// Enabled turns on WebAuthn passkeys as a second factor (the issuer's
	// host must be a domain name, not an IP address).
	Enabled bool `yaml:"enabled"`
	// Passwordless offers passkeys also as the whole login, from the
	// login page; needs `enabled`.
	Passwordless bool `yaml:"passwordless"`
}

// Theme is the login pages' look (docs/login.md).
type Theme struct {
	// ProductName is the name the pages show.
	ProductName string `yaml:"product_name"`
	// LogoURL is the URL of the logo the pages show.
	LogoURL string `yaml:"logo_url"`
	// Color is the pages' accent colour, a CSS colour such as `#2451b8`.
	Color string `yaml:"color"`
	// CSSFile is a style sheet appended to the pages'.
	CSSFile string `yaml:"css_file"`
	// TemplatesDir holds `*.html` files whose `{{define}}`s replace
	// Portico's pages.
	TemplatesDir string `yaml:"templates_dir"`
	// Messages replace the wording of the message catalogue, by id, in
	// every language.
	Messages map[string]string `yaml:"messages"`
	// Translations replace the wording of one language, by language tag
	// and id (`de: {badLogin: ...}`), over `messages`.
	Translations map[string]map[string]string `yaml:"translations"`
	// Language is the pages' and emails' language when neither the
	// login's `ui_locales` nor the browser's `Accept-Language` names an
	// offered one: `en` (the default) or `de`.
	Language string `yaml:"language"`
	// Languages are the languages offered (default: all Portico ships,
	// `en` and `de`); `language` must be one of them. Discovery's
	// `ui_locales_supported` lists them.
	Languages []string `yaml:"languages"`
}

// ShippedLanguages are the languages of Portico's message catalogue.
var ShippedLanguages = []string{"de", "en"}

// Session is the browser's single sign-on session at Portico: after one
// login, other applications log the person in without asking again until
// it ends, at logout or at a timeout.
type Session struct {
	// IdleTimeout ends the browser's single sign-on session when unused
	// this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// AbsoluteTimeout ends the session this long after the login, used or
	// not.
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// Disabled means no single sign-on: every authorization request asks
	// the person to log in.
	Disabled bool `yaml:"disabled"`
}

// Defaults of the login section.
const (
	DefaultSessionIdle     = time.Hour
	DefaultSessionAbsolute = 12 * time.Hour
)

func (l *Login) applyDefaults() {
	if l.Session.IdleTimeout == 0 {
		l.Session.IdleTimeout = Duration(DefaultSessionIdle)
	}
	if l.Session.AbsoluteTimeout == 0 {
		l.Session.AbsoluteTimeout = Duration(DefaultSessionAbsolute)
	}
	if l.Account.FreshLogin == 0 {
		l.Account.FreshLogin = Duration(DefaultAccountFreshLogin)
	}
}

func (c *Config) validateLogin(v *validator) {
	for i, id := range c.Login.MFA.Clients {
		console := id == ConsoleClient && !c.Admin.Console.Disabled // the console's built-in client
		if !console && !slices.ContainsFunc(c.Clients, func(cl Client) bool { return cl.ID == id }) {
			v.add(fmt.Sprintf("login.mfa.clients[%d]", i), "no client %q in clients", id)
		}
	}
	for i, id := range c.Login.MFA.Connectors {
		if !slices.ContainsFunc(c.Connectors, func(cn Connector) bool { return cn.ID == id }) {
			v.add(fmt.Sprintf("login.mfa.connectors[%d]", i), "no connector %q in connectors", id)
		}
	}
	if k := c.Login.MFA.Key; k != "" {
		if b, err := base64.StdEncoding.DecodeString(k); err != nil || len(b) != 32 {
			v.add("login.mfa.key", "must be 32 bytes in base64 (openssl rand -base64 32)")
		}
	}
	if pk := c.Login.Passkeys; pk.Passwordless && !pk.Enabled {
		v.add("login.passkeys.passwordless", "needs login.passkeys.enabled")
	} else if u, err := url.Parse(c.Issuer); pk.Enabled && err == nil && net.ParseIP(u.Hostname()) != nil {
		v.add("login.passkeys.enabled", "needs a domain name as the issuer's host: WebAuthn refuses an IP address (%s)", u.Hostname())
	}
	th := c.Login.Theme
	if th.Language != "" && !slices.Contains(ShippedLanguages, th.Language) {
		v.add("login.theme.language", "must be one of %s", strings.Join(ShippedLanguages, ", "))
	}
	for i, l := range th.Languages {
		if !slices.Contains(ShippedLanguages, l) {
			v.add(fmt.Sprintf("login.theme.languages[%d]", i), "must be one of %s", strings.Join(ShippedLanguages, ", "))
		}
	}
	if lang := cmp.Or(th.Language, "en"); len(th.Languages) > 0 && !slices.Contains(th.Languages, lang) {
		v.add("login.theme.language", "%q is not among login.theme.languages", lang)
	}
	for l := range th.Translations {
		if !slices.Contains(ShippedLanguages, l) {
			v.add("login.theme.translations."+l, "no such language; must be one of %s", strings.Join(ShippedLanguages, ", "))
		}
	}
	if f := c.Login.Account.FreshLogin; f < 0 || f > Duration(24*time.Hour) {
		v.add("login.account.fresh_login", "must be at most 24h (unset: 10m)")
	}
	if q := c.Login.Hash.QueueTimeout; q < 0 || q > Duration(time.Minute) {
		v.add("login.hash.queue_timeout", "must be at most 1m (unset: 2s)")
	}
	if col := c.Login.Theme.Color; strings.ContainsAny(col, ";{}<>\\\"'") {
		v.add("login.theme.color", "must be a CSS colour such as #2451b8")
	}
	t := c.Login.Throttle
	for path, d := range map[string]Duration{"base_delay": t.BaseDelay, "max_delay": t.MaxDelay, "lock_for": t.LockFor, "window": t.Window} {
		if d < 0 {
			v.add("login.throttle."+path, "must not be negative")
		}
	}
	ct := t.Clients
	for path, d := range map[string]Duration{"base_delay": ct.BaseDelay, "max_delay": ct.MaxDelay} {
		if d < 0 {
			v.add("login.throttle.clients."+path, "must not be negative")
		}
	}
	if ct.FreeFailures < 0 {
		v.add("login.throttle.clients.free_failures", "must not be negative")
	}
	if t.AuthorizeRate < -1 {
		v.add("login.throttle.authorize_rate", "must be a number of requests a second, 0 for the default or -1 for none")
	}
	if t.TokenRate < 0 {
		v.add("login.throttle.token_rate", "must not be negative")
	}
	s := c.Login.Session
	switch {
	case s.IdleTimeout < 0:
		v.add("login.session.idle_timeout", "must be positive")
	case s.AbsoluteTimeout < 0:
		v.add("login.session.absolute_timeout", "must be positive")
	case s.IdleTimeout > s.AbsoluteTimeout:
		v.add("login.session.idle_timeout", "must not exceed absolute_timeout (%s)", s.AbsoluteTimeout.Std())
	}
}

// MFA says which logins must add a second factor: to these clients,
// through these connectors, or of users in these groups (after claim
// mapping and local groups). A client can also ask for one per request
// with acr_values=urn:portico:acr:mfa.
type MFA struct {
	// Key seals TOTP secrets in the store: 32 bytes, base64 (`openssl
	// rand -base64 32`). Without it one is generated into the data
	// directory; every replica sharing a database needs the same one.
	Key string `yaml:"key"`
	// Clients: logins to these clients must add a second factor.
	Clients []string `yaml:"clients"`
	// Connectors: logins through these connectors must add a second
	// factor.
	Connectors []string `yaml:"connectors"`
	// Groups: logins of users in these groups (after claim mapping and
	// local groups) must add a second factor.
	Groups []string `yaml:"groups"`
	// KeyFile is a file holding `key` (a mounted secret), read at start;
	// not with it ([Secrets in files](#secrets-in-files)).
	KeyFile string `yaml:"key_file"`
}

// Throttle configures brute-force protection of the login forms and
// second-factor checks (per account and per source address), and the
// token endpoint's rate limit per client. Zero values take the defaults
// of broker/throttle.
type Throttle struct {
	// FreeFailures are the failures allowed without delay, counted for
	// the password form per name, per account and per address (ten times
	// as lenient) and for second-factor codes per user; negative: none.
	FreeFailures int `yaml:"free_failures"`
	// BaseDelay is the first delay, doubled by each further failure up
	// to `max_delay`.
	BaseDelay Duration `yaml:"base_delay"`
	// MaxDelay is the longest delay.
	MaxDelay Duration `yaml:"max_delay"`
	// LockAfter is the number of failures that locks the account (or
	// name, or address) for `lock_for`, and every failure beyond it locks
	// it again; negative: never.
	LockAfter int `yaml:"lock_after"`
	// LockFor is how long a lock lasts.
	LockFor Duration `yaml:"lock_for"`
	// Window is how long failures are remembered after the delay or lock
	// of the latest one has ended.
	Window Duration `yaml:"window"`
	// TokenRate is the token requests per second allowed per
	// authenticated client; more get 429 with Retry-After. 0: no limit.
	TokenRate int `yaml:"token_rate"`
	// AuthorizeRate is how many authorization requests one address may
	// start a second (each is stored until it expires), with a burst of
	// five seconds' worth; more get 429 with Retry-After. Counted in
	// memory per replica. 0 takes the default, `-1` turns it off (behind
	// a proxy, set `ops.trusted_proxies` or every user shares one
	// address).
	AuthorizeRate int `yaml:"authorize_rate"`
	// Clients slows down failed client authentication at `/token`, `/par`,
	// `/introspect`, `/revoke` and `/register` (wrong secret, unknown
	// client id, a refused client assertion, bad registration access
	// token), counted per client id from each address and per address
	// (ten times the allowance) in the store, so replicas share them
	// (within a second: a replica trusts for that long that a client it
	// found without failures still has none). After the free failures each further one doubles the delay, up to
	// `max_delay`; meanwhile every attempt of that client id from that
	// address, or of that address, gets 429 with `Retry-After`, even with
	// the right secret. Never a lock, and never per client id alone:
	// anyone can name a client id
	// ([login.md](login.md#brute-force-protection)).
	Clients ClientThrottle `yaml:"clients"`
}

// ClientThrottle is the back-off of failed client authentication, per
// client id and per address (ten times the allowance). It never locks:
// anyone can name a client, and a lock would let them shut it out.
type ClientThrottle struct {
	// FreeFailures are the failures before the back-off starts (the
	// address gets ten times as many).
	FreeFailures int `yaml:"free_failures"`
	// BaseDelay is the first delay, doubled by each further failure up
	// to `max_delay`.
	BaseDelay Duration `yaml:"base_delay"`
	// MaxDelay is the longest delay.
	MaxDelay Duration `yaml:"max_delay"`
}
