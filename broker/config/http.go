package config

import "time"

// HTTP configures the HTTP server of the OpenID endpoints.
type HTTP struct {
	// WriteTimeout bounds a request from the end of its headers to the
	// end of its answer (default 30s). A request that waits for a
	// connector is given that connector's deadline plus a margin instead,
	// whatever this is, so that the answer always arrives.
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
