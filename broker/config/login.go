package config

import "time"

// Login configures the login journey: the single sign-on session, second
// factors, consent and brute-force protection (docs/login.md).
type Login struct {
	Session Session `yaml:"session"`
}

// Session is the browser's single sign-on session at Portico: after one
// login, other applications log the person in without asking again until
// it ends, at logout or at a timeout.
type Session struct {
	// IdleTimeout ends a session unused for this long (default 1h);
	// AbsoluteTimeout ends it this long after the login, used or not
	// (default 12h).
	IdleTimeout     Duration `yaml:"idle_timeout"`
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	// Disabled turns single sign-on off: every authorization request asks
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
}

func (c *Config) validateLogin(v *validator) {
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
