package server

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"time"

	"github.com/portico-idp/portico/broker/journey"
	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/ui"

	"github.com/portico-idp/portico/broker"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
)

// loginOptions sets o's login journey from cfg.Login: single sign-on,
// second factors, brute-force protection and the theme.
func loginOptions(cfg *config.Config, st store.Store, o *broker.Options) error {
	o.TrustedProxies = cfg.Ops.TrustedProxies
	l := cfg.Login
	o.SessionIdle, o.SessionAbsolute = l.Session.IdleTimeout.Std(), l.Session.AbsoluteTimeout.Std()
	if l.Session.Disabled {
		o.SessionIdle, o.SessionAbsolute = 0, 0
	}
	o.MFA = journey.MFAPolicy{Clients: l.MFA.Clients, Connectors: l.MFA.Connectors, Groups: l.MFA.Groups}
	o.Passkeys = journey.PasskeyOptions{Enabled: l.Passkeys.Enabled, Passwordless: l.Passkeys.Passwordless}
	o.AccountFreshLogin = l.Account.FreshLogin.Std()
	if l.MFA.Key != "" {
		k, err := base64.StdEncoding.DecodeString(l.MFA.Key)
		if err != nil {
			return fmt.Errorf("login.mfa.key: %w", err)
		}
		o.MFAKey = k
	} else {
		master, err := masterKey(cfg.Storage.Dir)
		if err != nil {
			return fmt.Errorf("second-factor key: %w", err)
		}
		m := hmac.New(sha256.New, master)
		m.Write([]byte("portico mfa key"))
		o.MFAKey = m.Sum(nil)
	}

	// The throttles read the broker's clock, so that a test can move a
	// lock's end instead of waiting for it on a loaded machine.
	now := o.Now
	if now == nil {
		now = time.Now
	}
	t := l.Throttle
	p := throttle.Policy{FreeFailures: t.FreeFailures, BaseDelay: t.BaseDelay.Std(), MaxDelay: t.MaxDelay.Std(),
		LockAfter: t.LockAfter, LockFor: t.LockFor.Std(), Window: t.Window.Std()}
	lim, err := throttle.New(st, p, now)
	if err != nil {
		return fmt.Errorf("login.throttle: %w", err)
	}
	// Many people share an address behind a NAT: the address gets ten
	// times the account's allowance before it slows down.
	ipPolicy := p
	if ipPolicy.FreeFailures == 0 {
		ipPolicy.FreeFailures = 3
	}
	if ipPolicy.LockAfter == 0 {
		ipPolicy.LockAfter = 10
	}
	ipPolicy.FreeFailures *= 10
	ipPolicy.LockAfter *= 10
	if o.Throttle, err = lim.WithScope(throttle.ScopeIP, ipPolicy); err != nil {
		return fmt.Errorf("login.throttle: %w", err)
	}
	// Wrong device user codes are counted per address too (device_page.go).
	if o.Throttle, err = o.Throttle.WithScope(journey.ScopeDevice, ipPolicy); err != nil {
		return fmt.Errorf("login.throttle: %w", err)
	}
	// Failed client authentication, per client id (known or not) and per
	// address. A back-off without locks: anyone can name a client, and a
	// lock would let them shut it out; with secrets of 256 bits a guess
	// every minute is no threat.
	ct := t.Clients
	cp := throttle.Policy{FreeFailures: cmp.Or(ct.FreeFailures, 10), BaseDelay: cmp.Or(ct.BaseDelay.Std(), time.Second),
		MaxDelay: cmp.Or(ct.MaxDelay.Std(), time.Minute), LockAfter: -1, Window: 15 * time.Minute}
	clim, err := throttle.New(st, cp, now)
	if err != nil {
		return fmt.Errorf("login.throttle.clients: %w", err)
	}
	cp.FreeFailures *= 10
	if o.ClientThrottle, err = clim.WithScope(protocol.ScopeClientIP, cp); err != nil {
		return fmt.Errorf("client throttle: %w", err)
	}
	// Every token request peeks at its client's counters, which almost
	// never hold a failure: keys found clean are trusted for as long as a
	// cached client (issue 24). Another replica's failures are seen here
	// within that time, failures here at once; guessing 256-bit secrets
	// gains nothing from it.
	o.ClientThrottle = o.ClientThrottle.WithCleanMemory(clientCacheTTL)
	switch {
	case t.AuthorizeRate == 0:
		o.AuthorizeRate = 20
	case t.AuthorizeRate > 0:
		o.AuthorizeRate = t.AuthorizeRate
	}
	if t.TokenRate > 0 {
		r, err := throttle.NewRate(st, throttle.Rate{Limit: t.TokenRate, Per: time.Second}, now)
		if err != nil {
			return fmt.Errorf("login.throttle.token_rate: %w", err)
		}
		o.TokenRate = r
	}

	th := l.Theme
	o.Theme = ui.Theme{ProductName: th.ProductName, LogoURL: th.LogoURL, Color: th.Color, Messages: th.Messages,
		Translations: th.Translations, Language: th.Language, Languages: th.Languages}
	if th.CSSFile != "" {
		b, err := os.ReadFile(th.CSSFile)
		if err != nil {
			return fmt.Errorf("login.theme.css_file: %w", err)
		}
		o.Theme.CSS = string(b)
	}
	if th.TemplatesDir != "" {
		o.Theme.Templates = os.DirFS(th.TemplatesDir)
	}
	return nil
}
