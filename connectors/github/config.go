package github

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portico-idp/portico/sdk/upstream"
)

// GitHub's own endpoints, the defaults.
const (
	DefaultBaseURL = "https://github.com"
	DefaultAPIURL  = "https://api.github.com"
)

// Config configures a GitHub (or GitHub Enterprise Server) connector. The
// broker passes the connector's YAML config block, as JSON, to ParseConfig.
type Config struct {
	// ClientID and ClientSecret of the GitHub OAuth app, whose
	// "Authorization callback URL" is the connector's callback URL
	// (<portico issuer>/callback/<connector id>).
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// BaseURL is where people log in (default https://github.com; for
	// GitHub Enterprise Server, https://github.example.com).
	BaseURL string `json:"base_url,omitempty"`
	// APIURL is the REST API (default https://api.github.com, or
	// BaseURL + "/api/v3" when BaseURL is set, as Enterprise Server has it).
	APIURL string `json:"api_url,omitempty"`
	// AllowedOrgs, if set, admits only members of one of these
	// organisations (at login and at every refresh), and only these
	// organisations and their teams become groups.
	AllowedOrgs []string `json:"allowed_orgs,omitempty"`
	// Timeout bounds each call to GitHub (default 10s).
	Timeout upstream.Duration `json:"timeout,omitempty"`
}

// ParseConfig decodes the connector's JSON config, refusing unknown fields,
// applies the defaults and validates it. Errors name the field, as in
// "github: config.client_id: required".
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if err := upstream.DecodeStrict("github: config", raw, &c); err != nil {
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
	switch {
	case c.BaseURL == "" && c.APIURL == "":
		c.BaseURL, c.APIURL = DefaultBaseURL, DefaultAPIURL
	case c.BaseURL == "":
		c.BaseURL = DefaultBaseURL
	case c.APIURL == "" && c.BaseURL == DefaultBaseURL:
		c.APIURL = DefaultAPIURL
	case c.APIURL == "":
		c.APIURL = strings.TrimSuffix(c.BaseURL, "/") + "/api/v3"
	}
	if c.Timeout == 0 {
		c.Timeout = upstream.Duration(upstream.DefaultTimeout)
	}
	if len(c.AllowedOrgs) == 0 {
		c.AllowedOrgs = nil
	}
}

// Validate checks a Config with its defaults applied. Every problem is
// reported, each naming its field.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("github: config.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if c.ClientID == "" {
		bad("client_id", "required")
	}
	if c.ClientSecret == "" {
		bad("client_secret", "required")
	}
	upstream.CheckURL(bad, "base_url", c.BaseURL)
	upstream.CheckURL(bad, "api_url", c.APIURL)
	for i, o := range c.AllowedOrgs {
		if o == "" || strings.ContainsAny(o, " /:") {
			bad(fmt.Sprintf("allowed_orgs[%d]", i), "%q is not an organisation login", o)
		}
	}
	upstream.CheckTimeout(bad, "timeout", c.Timeout)
	return errors.Join(errs...)
}
