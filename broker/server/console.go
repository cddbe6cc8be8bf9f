package server

import (
	"slices"
	"strings"

	"github.com/portico-idp/portico/broker/config"
)

// withConsole returns cfg with the admin console's built-in client
// (config.ConsoleClient) among its clients, unless the console is off:
// public, PKCE, trusted for administration, its one redirect URI the
// console's callback. It is seeded and, with declarative: true, managed
// like the file's own clients. cfg itself is not changed.
func withConsole(cfg *config.Config) *config.Config {
	if cfg.Admin.Console.Disabled {
		return cfg
	}
	c := *cfg
	c.Clients = append(slices.Clone(cfg.Clients), config.Client{
		ID: config.ConsoleClient, Name: "Portico console", Public: true, Admin: true,
		GrantTypes:   []string{"authorization_code"},
		RedirectURIs: []string{strings.TrimSuffix(cfg.Issuer, "/") + "/admin/callback"},
		Scopes:       []string{config.AdminScope},
	})
	return &c
}
