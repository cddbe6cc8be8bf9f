package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// SelfService configures the links Portico mails to local accounts
// ([self-service.md](self-service.md)); each local connector's `config`
// says which of them it offers (LocalConfig).
type SelfService struct {
	// ResetLinkTTL is how long a password reset link works (default 30m).
	ResetLinkTTL Duration `yaml:"reset_link_ttl"`
	// VerifyLinkTTL is how long an email verification link works
	// (default 24h).
	VerifyLinkTTL Duration `yaml:"verify_link_ttl"`
	// InviteLinkTTL is how long an invitation link works (default 168h,
	// seven days).
	InviteLinkTTL Duration `yaml:"invite_link_ttl"`
}

// maxLinkTTL bounds the link lifetimes (tokensvc.MaxActionTTL).
const maxLinkTTL = 30 * 24 * time.Hour

// validateSelfService: what a local connector offers needs mail.
func (c *Config) validateSelfService(v *validator) {
	c.SelfService.validate(v)
	if c.Mail.Enabled() {
		return
	}
	for i, cn := range c.Connectors {
		if cn.Type != "local" || len(cn.Config) == 0 {
			continue
		}
		raw, err := json.Marshal(cn.Config)
		if err != nil {
			continue
		}
		if lc, err := ParseLocalConfig(raw); err == nil && (lc.PasswordReset || lc.RequireVerifiedEmail || lc.Registration.Enabled) {
			v.add(fmt.Sprintf("connectors[%d].config", i), "password_reset, require_verified_email and registration mail links: configure mail.smtp.host")
		}
	}
}

func (s SelfService) validate(v *validator) {
	for name, d := range map[string]Duration{"reset_link_ttl": s.ResetLinkTTL, "verify_link_ttl": s.VerifyLinkTTL, "invite_link_ttl": s.InviteLinkTTL} {
		if d < 0 || d.Std() > maxLinkTTL {
			v.add("self_service."+name, "must be from 0 (the default) to 720h")
		}
	}
}

// LocalConfig is a `local` connector's `config`: what its accounts do
// themselves. All of it needs `mail`. Unset, a local connector offers
// none of it.
type LocalConfig struct {
	// RequireVerifiedEmail refuses a login until the account's email
	// address is verified, and mails a link when it refuses one.
	RequireVerifiedEmail bool `json:"require_verified_email"`
	// PasswordReset offers "Forgot password?" on the login form.
	PasswordReset bool `json:"password_reset"`
	// ResetSecondFactor makes a person with a second factor (an
	// authenticator app or recovery codes) give a code of it with the
	// new password: the mailed link alone does not reset.
	ResetSecondFactor bool `json:"reset_second_factor"`
	// Registration lets people create accounts themselves.
	Registration LocalRegistration `json:"registration"`
}

// LocalRegistration is self-registration, off by default. A registered
// account's address must be verified before it logs in.
type LocalRegistration struct {
	Enabled bool `json:"enabled"`
	// AllowedDomains, if any, are the only email domains accepted.
	AllowedDomains []string `json:"allowed_domains"`
	// TermsURL, if set, is linked from the form, and accepting the terms
	// is required.
	TermsURL string `json:"terms_url"`
}

// ParseLocalConfig decodes a local connector's config block (JSON),
// refusing unknown fields and bad values.
func ParseLocalConfig(raw []byte) (LocalConfig, error) {
	var c LocalConfig
	if len(raw) == 0 || string(raw) == "null" {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("local: config: %w", err)
	}
	r := c.Registration
	for i, d := range r.AllowedDomains {
		if d == "" || len(d) > 253 || strings.ContainsAny(d, "@ /\\") || strings.ToLower(d) != d {
			return c, fmt.Errorf("local: config: registration.allowed_domains[%d]: must be a domain name in lower case, such as example.com", i)
		}
	}
	if r.TermsURL != "" {
		u, err := url.Parse(r.TermsURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("local: config: registration.terms_url: must be an http or https URL")
		}
	}
	return c, nil
}
