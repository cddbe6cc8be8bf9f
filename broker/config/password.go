package config

import (
	"github.com/portico-idp/portico/broker/password"
)

// PasswordPolicy is the rule for the passwords of local accounts, applied
// wherever one is set: the admin API and console, `portico users add` and
// `passwd`, `portico hash-password`, and the login pages' password reset,
// registration and change ([passwords.md](passwords.md)). Imported hashes
// (`users[].password_hash`, the admin API's `password_hash`) cannot be
// checked.
type PasswordPolicy struct {
	// MinLength is the fewest characters a password may have (default 8,
	// NIST's minimum).
	MinLength int `yaml:"min_length"`
	// MaxLength is the most bytes (UTF-8) a password may have, at most
	// 1024 (default 256): a bound on the work of hashing it.
	MaxLength int `yaml:"max_length"`
	// MinStrength is the lowest strength estimate accepted, the zxcvbn
	// score from 1 (very guessable) to 4 (very unguessable); 0, the
	// default, does not estimate. 3 is a reasonable choice.
	MinStrength int `yaml:"min_strength"`
	// AllowCommon accepts passwords on the bundled list of the 30,000
	// most common ones, which are otherwise refused (ignoring case).
	AllowCommon bool `yaml:"allow_common"`
}

// Policy is p as the password package's policy.
func (p PasswordPolicy) Policy() password.Policy {
	return password.Policy{MinLength: p.MinLength, MaxLength: p.MaxLength, MinStrength: p.MinStrength, AllowCommon: p.AllowCommon}
}

func (p *PasswordPolicy) applyDefaults() {
	if p.MinLength == 0 {
		p.MinLength = password.DefaultMinLength
	}
	if p.MaxLength == 0 {
		p.MaxLength = password.DefaultMaxLength
	}
}

func (c *Config) validatePasswordPolicy(v *validator) {
	p := c.PasswordPolicy
	switch {
	case p.MinLength < 1:
		v.add("password_policy.min_length", "must be at least 1")
	case p.MaxLength < p.MinLength:
		// A character is at least one byte.
		v.add("password_policy.max_length", "must be at least min_length (%d)", p.MinLength)
	}
	if p.MaxLength > password.HardMaxLength {
		v.add("password_policy.max_length", "must be at most %d bytes", password.HardMaxLength)
	}
	if p.MinStrength < 0 || p.MinStrength > password.MaxStrength {
		v.add("password_policy.min_strength", "must be from 0 (off) to %d", password.MaxStrength)
	}
}
