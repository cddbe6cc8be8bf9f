package config

import "time"

// HTTP configures the HTTP server of the OpenID endpoints.
type HTTP struct {
	// WriteTimeout is how long a request may take from the end of its
	// head to the end of its answer, at most `10m`. A request waiting for
	// a connector gets that connector's deadline plus 10 s instead,
	// whatever this is: a plugin's or module's `timeout` (each at most
	// `5m`), 30 s for a built-in with `isolation: process`, 5 minutes for
	// the other built-ins (which bound each upstream call by their own
	// `timeout`). The broker stops a connector call at its deadline, so
	// its 503 page always reaches the browser.
	WriteTimeout Duration `yaml:"write_timeout"`
}

// DefaultHTTPWriteTimeout is HTTP.WriteTimeout unless set.
const DefaultHTTPWriteTimeout = 30 * time.Second

// maxHTTPWriteTimeout is the longest HTTP.WriteTimeout may be: a
// connection held longer is one a slow reader keeps for free.
const maxHTTPWriteTimeout = 10 * time.Minute

// HTTPWriteTimeout is the HTTP server's write timeout in force.
func (c *Config) HTTPWriteTimeout() time.Duration {
	if d := c.HTTP.WriteTimeout.Std(); d > 0 {
		return d
	}
	return DefaultHTTPWriteTimeout
}

func (c *Config) validateHTTP(v *validator) {
	if d := c.HTTP.WriteTimeout; d < 0 || d.Std() > maxHTTPWriteTimeout {
		v.add("http.write_timeout", "%v is out of range (0, %v]", d.Std(), maxHTTPWriteTimeout)
	}
}
