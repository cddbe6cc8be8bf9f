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
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/portico-idp/portico/broker/config"
)

// MaxInput bounds the file an importer reads: a realm export of a large
// Keycloak is tens of megabytes.
const MaxInput = 256 << 20

// Client is a clients[] entry of Portico's configuration.
type Client struct {
	ID                     string   `yaml:"id"`
	Name                   string   `yaml:"name,omitempty"`
	Secret                 any      `yaml:"secret,omitempty"` // a string (literal) or an Env reference
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

// Raw is a value already in the syntax of Portico's config loader: it is
// written as is, where every other string is escaped (Escape). Only Env
// builds one, for references the source format itself defines as
// environment references (Dex's $VAR, secretEnv).
type Raw string

// Env is the reference ${name} to an environment variable; ok is false
// when name is not a variable name (letters, digits and _, not starting
// with a digit), so nothing else can be smuggled into a Raw.
func Env(name string) (Raw, bool) {
	if name == "" || len(name) > 256 || name[0] >= '0' && name[0] <= '9' {
		return "", false
	}
	for _, c := range name {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return Raw("${" + name + "}"), true
}

// envTag marks a Raw in the node tree between encoding and escaping.
const envTag = "!portico-raw"

// MarshalYAML tags the value so that Fragment does not escape it.
func (r Raw) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: envTag, Value: string(r)}, nil
}

// Escape makes s a literal for Portico's config loader, which expands
// ${VAR} and reads $$ as $: each $ is doubled.
func Escape(s string) string { return strings.ReplaceAll(s, "$", "$$") }

// escapeNode escapes every string value of the tree (not mapping keys,
// which the loader does not expand), and untags Raw values.
func escapeNode(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			escapeNode(c)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			escapeNode(n.Content[i])
		}
	case yaml.ScalarNode:
		switch n.Tag {
		case envTag:
			n.Tag, n.Style = "!!str", yaml.DoubleQuotedStyle
		case "!!str", "":
			n.Value = Escape(n.Value)
		}
	}
}

// ID renders an identifier from the source for a report line: as it is
// when it is printable ASCII, quoted with Go escapes otherwise, so that
// it can neither forge report lines nor send terminal escapes.
func ID(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// clean escapes what is not printable in a report line: the parsers quote
// identifiers (ID), this catches any other value from the source.
func clean(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strconv.IsPrint(c) {
			b.WriteRune(c)
		} else {
			q := strconv.QuoteRune(c)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// AddClient adds c, unless the loader would refuse its id or it repeats
// an earlier client's id; redirect URIs the loader would refuse are left
// out. Each is reported under what.
func (r *Result) AddClient(what string, c Client) bool {
	if msg := config.CheckClientID(c.ID); msg != "" {
		r.Skip("%s: client id: %s", what, msg)
		return false
	}
	for _, o := range r.Clients {
		if o.ID == c.ID {
			r.Skip("%s: duplicate client id %s: only the first is imported", what, ID(c.ID))
			return false
		}
	}
	if msg := config.CheckDisplayName(c.Name); msg != "" {
		r.Skip("%s: name: %s: left out", what, msg)
		c.Name = ""
	}
	keep := func(kind string, uris []string) []string {
		var out []string
		for _, u := range uris {
			if msg := config.CheckRedirectURI(u, c.Public); msg != "" {
				r.Skip("%s: %s %s: %s", what, kind, ID(u), msg)
			} else if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
		return out
	}
	c.RedirectURIs = keep("redirect URI", c.RedirectURIs)
	c.PostLogoutRedirectURIs = keep("post-logout redirect URI", c.PostLogoutRedirectURIs)
	if len(c.RedirectURIs) == 0 && slices.Contains(c.GrantTypes, "authorization_code") {
		c.GrantTypes = slices.DeleteFunc(c.GrantTypes, func(g string) bool { return g == "authorization_code" || g == "refresh_token" })
		if len(c.GrantTypes) == 0 {
			r.Skip("%s: no usable redirect URI for authorization_code", what)
			return false
		}
		r.Note("%s: no usable redirect URI: authorization_code left out", what)
	}
	r.Clients = append(r.Clients, c)
	return true
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
	// Every string is a literal the loader must not expand: $ is doubled,
	// except in Raw values (environment references of the source).
	var root yaml.Node
	if err := root.Encode(doc); err != nil {
		return nil, err
	}
	escapeNode(&root)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
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
		fmt.Fprintf(w, "  connector %s (%s)\n", ID(c.ID), ID(c.Type))
	}
	for _, c := range r.Clients {
		kind := "confidential"
		if c.Public {
			kind = "public"
		}
		fmt.Fprintf(w, "  client %s (%s; %s)\n", ID(c.ID), kind, strings.Join(c.GrantTypes, ", "))
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
		fmt.Fprintf(w, "  %d users with %s passwords\n", algs[k], clean(k))
	}
	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "notes (%d):\n", len(r.Notes))
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  - %s\n", clean(n))
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "not imported (%d):\n", len(r.Skipped))
		for _, s := range r.Skipped {
			fmt.Fprintf(w, "  - %s\n", clean(s))
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
