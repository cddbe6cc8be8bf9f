// Package importer holds what the `portico import` commands produce from
// another identity provider's configuration: a Portico configuration
// fragment (clients, users, connectors) for the operator to review and
// merge, and a report of everything that did not map. The parsers for each
// source live in subpackages (dex, keycloak); this package only renders.
//
// The fragment is plain YAML in the shape of broker/config, so the same
// validation as any config file applies when the operator loads it; the
// importers check password hashes against the local connector's bounds
// themselves, so that an unusable hash is reported rather than written.
package importer

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxInput bounds the file an importer reads: a realm export of a large
// Keycloak is tens of megabytes.
const MaxInput = 256 << 20

// Client is a clients[] entry of Portico's configuration.
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name,omitempty"`
	Secret                 string   `yaml:"secret,omitempty"`
	Public                 bool     `yaml:"public,omitempty"`
	RedirectURIs           []string `yaml:"redirect_uris,omitempty"`
	GrantTypes             []string `yaml:"grant_types,omitempty"`
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris,omitempty"`
}

// User is a users[] entry of Portico's configuration.
type User struct {
	Username      string   `yaml:"username"`
	Email         string   `yaml:"email,omitempty"`
	EmailVerified *bool    `yaml:"email_verified,omitempty"`
	Name          string   `yaml:"name,omitempty"`
	Groups        []string `yaml:"groups,omitempty"`
	PasswordHash  string   `yaml:"password_hash"`
}

// Connector is a connectors[] entry of Portico's configuration.
type Connector struct {
	ID     string         `yaml:"id"`
	Type   string         `yaml:"type"`
	Name   string         `yaml:"name,omitempty"`
	Config map[string]any `yaml:"config,omitempty"`
}

// Result is what an import produced.
type Result struct {
	Source     string // "dex" or "keycloak", for the report
	Clients    []Client
	Users      []User
	Connectors []Connector
	// Skipped says, one line each, what did not map and why. It never
	// holds a secret or a hash.
	Skipped []string
	// Notes are things that mapped with a change the operator should know.
	Notes []string
}

// Skip records something that did not map.
func (r *Result) Skip(format string, args ...any) {
	r.Skipped = append(r.Skipped, fmt.Sprintf(format, args...))
}

// Note records something that mapped with a change.
func (r *Result) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// Fragment renders the configuration fragment: clients, users and
// connectors sections, with a header comment. Secrets and hashes are in
// it: it is for a file only the operator reads.
func (r *Result) Fragment() ([]byte, error) {
	doc := struct {
		Connectors []Connector `yaml:"connectors,omitempty"`
		Clients    []Client    `yaml:"clients,omitempty"`
		Users      []User      `yaml:"users,omitempty"`
	}{r.Connectors, r.Clients, r.Users}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Imported from %s by `portico import %s`. Review, then merge these\n", r.Source, r.Source)
	fmt.Fprintf(&b, "# sections into Portico's configuration. It holds client secrets and\n")
	fmt.Fprintf(&b, "# password hashes: keep it private (mode 0600) and delete it after.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteReport writes what would be (or was) imported and what was not,
// without secrets or hashes.
func (r *Result) WriteReport(w io.Writer) {
	fmt.Fprintf(w, "from %s: %d connectors, %d clients, %d users\n", r.Source, len(r.Connectors), len(r.Clients), len(r.Users))
	for _, c := range r.Connectors {
		fmt.Fprintf(w, "  connector %s (%s)\n", c.ID, c.Type)
	}
	for _, c := range r.Clients {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		fmt.Fprintf(w, "  client %s (%s; %s)\n", c.ID, kind, strings.Join(c.GrantTypes, ", "))
	}
	algs := map[string]int{}
	for _, u := range r.Users {
		algs[hashAlg(u.PasswordHash)]++
	}
	keys := make([]string, 0, len(algs))
	for k := range algs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %d users with %s passwords\n", algs[k], k)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "notes (%d):\n", len(r.Notes))
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "not imported (%d):\n", len(r.Skipped))
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
}

// hashAlg is the algorithm part of a hash string, for the report.
func hashAlg(h string) string {
	if strings.HasPrefix(h, "$2") {
		return "bcrypt"
	}
	if f := strings.Split(h, "$"); len(f) > 2 {
		return f[1]
	}
	return "unknown"
}

// Bool returns a pointer to v, for User.EmailVerified.
func Bool(v bool) *bool { return &v }
