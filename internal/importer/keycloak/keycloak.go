// Package keycloak turns a Keycloak realm export (the JSON of `kc.sh
// export` or of the admin console's partial export) into a Portico
// configuration fragment: users with their password credentials (PBKDF2,
// and argon2 from Keycloak 24, in the format Keycloak 11 and later export:
// secretData and credentialData as JSON strings; the older flat format
// too), their groups and realm roles as groups, OpenID Connect clients,
// identity providers (OpenID Connect, GitHub, Google, Microsoft, SAML) and
// LDAP user federation. Everything that does not map goes to the report.
package keycloak

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/internal/importer"
)

type credential struct {
	Type           string `json:"type"`
	SecretData     string `json:"secretData"`
	CredentialData string `json:"credentialData"`
	// Before Keycloak 11:
	HashedSaltedValue string `json:"hashedSaltedValue"`
	Salt              string `json:"salt"`
	HashIterations    int    `json:"hashIterations"`
	Algorithm         string `json:"algorithm"`
}

type user struct {
	Username       string       `json:"username"`
	Email          string       `json:"email"`
	EmailVerified  bool         `json:"emailVerified"`
	FirstName      string       `json:"firstName"`
	LastName       string       `json:"lastName"`
	Enabled        *bool        `json:"enabled"`
	FederationLink string       `json:"federationLink"`
	Credentials    []credential `json:"credentials"`
	Groups         []string     `json:"groups"`
	RealmRoles     []string     `json:"realmRoles"`
}

type group struct {
	Name       string   `json:"name"`
	Path       string   `json:"path"`
	RealmRoles []string `json:"realmRoles"`
	SubGroups  []group  `json:"subGroups"`
}

type client struct {
	ClientID                  string            `json:"clientId"`
	Name                      string            `json:"name"`
	Enabled                   *bool             `json:"enabled"`
	Protocol                  string            `json:"protocol"`
	Secret                    string            `json:"secret"`
	ClientAuthenticatorType   string            `json:"clientAuthenticatorType"`
	RootURL                   string            `json:"rootUrl"`
	RedirectURIs              []string          `json:"redirectUris"`
	PublicClient              bool              `json:"publicClient"`
	BearerOnly                bool              `json:"bearerOnly"`
	StandardFlowEnabled       *bool             `json:"standardFlowEnabled"`
	ImplicitFlowEnabled       bool              `json:"implicitFlowEnabled"`
	DirectAccessGrantsEnabled bool              `json:"directAccessGrantsEnabled"`
	ServiceAccountsEnabled    bool              `json:"serviceAccountsEnabled"`
	Attributes                map[string]string `json:"attributes"`
}

type idp struct {
	Alias       string            `json:"alias"`
	DisplayName string            `json:"displayName"`
	ProviderID  string            `json:"providerId"`
	Enabled     *bool             `json:"enabled"`
	Config      map[string]string `json:"config"`
}

type component struct {
	Name          string                 `json:"name"`
	ProviderID    string                 `json:"providerId"`
	Config        map[string][]string    `json:"config"`
	SubComponents map[string][]component `json:"subComponents"`
}

type realm struct {
	Realm             string                 `json:"realm"`
	Users             []user                 `json:"users"`
	Groups            []group                `json:"groups"`
	Clients           []client               `json:"clients"`
	IdentityProviders []idp                  `json:"identityProviders"`
	Components        map[string][]component `json:"components"`
}

// Parse reads a realm export.
func Parse(data []byte) (*importer.Result, error) {
	if len(data) > importer.MaxInput {
		return nil, fmt.Errorf("keycloak: realm export is over %d bytes", importer.MaxInput)
	}
	var rl realm
	if err := json.Unmarshal(data, &rl); err != nil {
		return nil, fmt.Errorf("keycloak: %w", err)
	}
	r := &importer.Result{Source: "keycloak"}
	groupRoles := map[string][]string{}
	var walk func([]group, string)
	walk = func(gs []group, parent string) {
		for _, g := range gs {
			p := g.Path
			if p == "" {
				p = parent + "/" + g.Name
			}
			groupRoles[p] = g.RealmRoles
			walk(g.SubGroups, p)
		}
	}
	walk(rl.Groups, "")
	if len(rl.Users) > 0 {
		r.Note("groups: a top-level Keycloak group /staff becomes staff, a subgroup /staff/admins becomes staff/admins; realm roles (direct and from groups, not composites) become groups too")
		r.Note("users get new subjects (sub): Keycloak's user ids are not kept")
	}
	seen := map[string]bool{}
	for i, u := range rl.Users {
		importUser(r, rl.Realm, i, u, groupRoles, seen)
	}
	for i, c := range rl.Clients {
		importClient(r, i, c)
	}
	for i, p := range rl.IdentityProviders {
		importIDP(r, i, p)
	}
	for kind, cs := range rl.Components {
		for i, c := range cs {
			if kind == "org.keycloak.storage.UserStorageProvider" && c.ProviderID == "ldap" {
				importLDAP(r, i, c)
			} else if kind == "org.keycloak.storage.UserStorageProvider" {
				r.Skip("components user storage %q (%s): no Portico counterpart", c.Name, importer.ID(c.ProviderID))
			}
		}
	}
	return r, nil
}

// defaultRole reports whether a realm role is one Keycloak gives everyone.
func defaultRole(realm, role string) bool {
	return role == "offline_access" || role == "uma_authorization" || role == "default-roles-"+strings.ToLower(realm)
}

func importUser(r *importer.Result, realmName string, i int, u user, groupRoles map[string][]string, seen map[string]bool) {
	what := fmt.Sprintf("users[%d] (%s)", i, importer.ID(u.Username))
	if u.Enabled != nil && !*u.Enabled {
		r.Skip("%s: disabled in Keycloak", what)
		return
	}
	if u.FederationLink != "" {
		r.Skip("%s: lives in user federation %s: it logs in through the imported LDAP connector", what, importer.ID(u.FederationLink))
		return
	}
	if msg := config.CheckUsername(u.Username); msg != "" {
		r.Skip("%s: username: %s", what, msg)
		return
	}
	if seen[strings.ToLower(u.Username)] || u.Email != "" && seen[strings.ToLower(u.Email)] {
		r.Skip("%s: duplicate username or email", what)
		return
	}
	var hash string
	var reason string
	for _, c := range u.Credentials {
		switch c.Type {
		case "password":
			hash, reason = passwordHash(c)
		case "otp", "webauthn", "webauthn-passwordless":
			r.Skip("%s: %s credential: the user enrols a second factor again in Portico", what, importer.ID(c.Type))
		}
	}
	if hash == "" {
		if reason == "" {
			reason = "no password credential"
		}
		r.Skip("%s: %s", what, reason)
		return
	}
	if err := local.CheckHash(hash); err != nil {
		r.Skip("%s: %s", what, strings.TrimPrefix(err.Error(), "local: "))
		return
	}
	seen[strings.ToLower(u.Username)] = true
	if u.Email != "" {
		seen[strings.ToLower(u.Email)] = true
	}
	out := importer.User{Username: u.Username, Email: u.Email, PasswordHash: hash,
		Name: strings.TrimSpace(u.FirstName + " " + u.LastName)}
	if u.Email != "" {
		out.EmailVerified = importer.Bool(u.EmailVerified)
	}
	add := func(g string) {
		if g != "" && !contains(out.Groups, g) {
			out.Groups = append(out.Groups, g)
		}
	}
	for _, g := range u.Groups {
		add(strings.TrimPrefix(g, "/"))
		for _, role := range groupRoles[g] {
			if !defaultRole(realmName, role) {
				add(role)
			}
		}
	}
	for _, role := range u.RealmRoles {
		if !defaultRole(realmName, role) {
			add(role)
		}
	}
	r.Users = append(r.Users, out)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// passwordHash converts a Keycloak password credential to a hash string
// the local connector verifies, or says why it cannot.
func passwordHash(c credential) (hash, reason string) {
	var secret struct {
		Value string `json:"value"`
		Salt  string `json:"salt"`
	}
	var data struct {
		HashIterations       int                 `json:"hashIterations"`
		Algorithm            string              `json:"algorithm"`
		AdditionalParameters map[string][]string `json:"additionalParameters"`
	}
	if c.SecretData != "" || c.CredentialData != "" {
		if json.Unmarshal([]byte(c.SecretData), &secret) != nil || json.Unmarshal([]byte(c.CredentialData), &data) != nil {
			return "", "password credential: secretData or credentialData is not JSON"
		}
	} else { // before Keycloak 11
		secret.Value, secret.Salt = c.HashedSaltedValue, c.Salt
		data.HashIterations, data.Algorithm = c.HashIterations, c.Algorithm
	}
	if secret.Value == "" || secret.Value == "**********" {
		return "", "password credential without its hash (an admin console export masks it: use kc.sh export)"
	}
	value, err1 := base64.StdEncoding.DecodeString(secret.Value)
	salt, err2 := base64.StdEncoding.DecodeString(secret.Salt)
	if err1 != nil || err2 != nil {
		return "", "password credential: value or salt is not base64"
	}
	switch data.Algorithm {
	case "pbkdf2", "pbkdf2-sha256", "pbkdf2-sha512":
		return fmt.Sprintf("$%s$%d$%s$%s", data.Algorithm, data.HashIterations,
			local.EncodeAB64(salt), local.EncodeAB64(value)), ""
	case "argon2":
		p := func(k, def string) string {
			if v := data.AdditionalParameters[k]; len(v) == 1 {
				return v[0]
			}
			return def
		}
		// Keycloak's defaults (Argon2PasswordHashProviderFactory).
		if p("type", "id") != "id" || p("version", "1.3") != "1.3" {
			return "", fmt.Sprintf("argon2 type %s version %s: only argon2id 1.3 is supported", p("type", "id"), p("version", "1.3"))
		}
		return fmt.Sprintf("$argon2id$v=19$m=%s,t=%d,p=%s$%s$%s", p("memory", "7168"), data.HashIterations, p("parallelism", "1"),
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(value)), ""
	}
	return "", fmt.Sprintf("password algorithm %q is not supported", data.Algorithm)
}

// builtinClients are the clients every Keycloak realm has.
var builtinClients = map[string]bool{"account": true, "account-console": true, "admin-cli": true,
	"broker": true, "realm-management": true, "security-admin-console": true}

func importClient(r *importer.Result, i int, c client) {
	what := fmt.Sprintf("clients[%d] (%s)", i, importer.ID(c.ClientID))
	switch {
	case builtinClients[c.ClientID]:
		return // Keycloak's own; Portico has its account page and admin API
	case c.Enabled != nil && !*c.Enabled:
		r.Skip("%s: disabled in Keycloak", what)
		return
	case c.Protocol == "saml":
		r.Skip("%s: a SAML client: Portico serves OpenID Connect only", what)
		return
	case c.BearerOnly:
		r.Skip("%s: bearer-only (a resource server): list its URI in a client's resources instead", what)
		return
	}
	out := importer.Client{ID: c.ClientID, Public: c.PublicClient}
	if !strings.HasPrefix(c.Name, "${") {
		out.Name = c.Name
	}
	if c.StandardFlowEnabled == nil || *c.StandardFlowEnabled {
		out.GrantTypes = append(out.GrantTypes, "authorization_code", "refresh_token")
	}
	if c.ServiceAccountsEnabled && !c.PublicClient {
		out.GrantTypes = append(out.GrantTypes, "client_credentials")
	}
	if c.ImplicitFlowEnabled {
		r.Skip("%s: implicit flow: Portico offers the code flow with PKCE instead", what)
	}
	if c.DirectAccessGrantsEnabled {
		r.Skip("%s: direct access grants (password grant): not offered by Portico", what)
	}
	if !c.PublicClient {
		switch a := c.ClientAuthenticatorType; {
		case a != "" && a != "client-secret":
			r.Skip("%s: client authenticator %s: configure token_endpoint_auth_method by hand", what, importer.ID(a))
		case c.Secret == "" || c.Secret == "**********":
			r.Note("%s: the export has no client secret: set secret before loading", what)
		default:
			out.Secret = c.Secret
		}
	}
	for _, u := range c.RedirectURIs {
		switch {
		case strings.Contains(u, "*"):
			r.Skip("%s: redirect URI %q: Portico takes no wildcards; list each URI", what, u)
			continue
		case strings.HasPrefix(u, "/"):
			if c.RootURL == "" {
				r.Skip("%s: relative redirect URI %q without rootUrl", what, u)
				continue
			}
			u = strings.TrimSuffix(c.RootURL, "/") + u
		}
		out.RedirectURIs = append(out.RedirectURIs, u)
	}
	if plo := c.Attributes["post.logout.redirect.uris"]; plo != "" {
		for _, u := range strings.Split(plo, "##") {
			if u != "" && u != "+" && !strings.Contains(u, "*") {
				out.PostLogoutRedirectURIs = append(out.PostLogoutRedirectURIs, u)
			}
		}
	}
	if len(out.GrantTypes) == 0 {
		r.Skip("%s: no flow Portico offers is enabled", what)
		return
	}
	r.AddClient(what, out)
}

func importIDP(r *importer.Result, i int, p idp) {
	what := fmt.Sprintf("identityProviders[%d] (%s, %s)", i, importer.ID(p.Alias), importer.ID(p.ProviderID))
	if p.Enabled != nil && !*p.Enabled {
		r.Skip("%s: disabled in Keycloak", what)
		return
	}
	c := p.Config
	out := map[string]any{}
	set := func(k, v string) {
		if v != "" && v != "**********" {
			out[k] = v
		}
	}
	typ := p.ProviderID
	switch p.ProviderID {
	case "oidc", "keycloak-oidc":
		typ = "oidc"
		if c["issuer"] == "" {
			r.Skip("%s: no issuer: Portico configures upstreams by discovery", what)
			return
		}
		set("issuer", c["issuer"])
		fallthrough
	case "google", "microsoft", "github":
		set("client_id", c["clientId"])
		set("client_secret", c["clientSecret"])
		if typ != "github" {
			if s := strings.Fields(c["defaultScope"]); len(s) > 0 {
				out["scopes"] = s
			}
		}
		if c["clientAuthMethod"] == "client_secret_post" {
			out["token_auth_method"] = "client_secret_post"
		}
		if c["clientSecret"] == "**********" {
			r.Note("%s: the export masks the client secret: set client_secret", what)
		}
	case "saml":
		set("idp_sso_url", c["singleSignOnServiceUrl"])
		set("idp_entity_id", c["idpEntityId"])
		set("name_id_format", c["nameIDPolicyFormat"])
		var certs []string
		for _, der := range strings.Split(c["signingCertificate"], ",") {
			if der = strings.TrimSpace(der); der != "" {
				certs = append(certs, "-----BEGIN CERTIFICATE-----\n"+der+"\n-----END CERTIFICATE-----\n")
			}
		}
		if len(certs) > 0 {
			out["idp_certificates"] = certs
		}
		if c["idpEntityId"] == "" {
			r.Note("%s: set idp_entity_id (Portico requires it with idp_sso_url)", what)
		}
	default:
		r.Skip("%s: no Portico connector for this provider", what)
		return
	}
	r.Note("%s: register Portico's callback URL with the upstream in place of Keycloak's broker endpoint", what)
	r.Connectors = append(r.Connectors, importer.Connector{ID: p.Alias, Type: typ, Name: p.DisplayName, Config: out})
}

func first(c map[string][]string, k string) string {
	if v := c[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func importLDAP(r *importer.Result, i int, c component) {
	what := fmt.Sprintf("user federation %q (ldap)", c.Name)
	cfg := c.Config
	out := map[string]any{}
	urls := strings.Fields(first(cfg, "connectionUrl"))
	if len(urls) == 0 {
		r.Skip("%s: no connectionUrl", what)
		return
	}
	out["url"] = urls[0]
	if len(urls) > 1 {
		out["urls"] = urls[1:]
	}
	if first(cfg, "startTls") == "true" {
		out["start_tls"] = true
	} else if strings.HasPrefix(urls[0], "ldap://") {
		out["insecure_no_tls"] = true
		r.Note("%s: plain ldap:// without StartTLS: insecure_no_tls is set; prefer ldaps or start_tls", what)
	}
	if dn := first(cfg, "bindDn"); dn != "" {
		out["bind_dn"] = dn
		if pw := first(cfg, "bindCredential"); pw != "" && pw != "**********" {
			out["bind_password"] = pw
		} else {
			r.Note("%s: the export masks bindCredential: set bind_password", what)
		}
	}
	us := map[string]any{"base_dn": first(cfg, "usersDn")}
	if a := first(cfg, "usernameLDAPAttribute"); a != "" {
		us["username_attributes"] = []string{a}
	}
	if a := first(cfg, "uuidLDAPAttribute"); a != "" {
		us["id_attribute"] = a
	}
	var filter strings.Builder
	for _, oc := range strings.Split(first(cfg, "userObjectClasses"), ",") {
		if oc = strings.TrimSpace(oc); oc != "" {
			fmt.Fprintf(&filter, "(objectClass=%s)", oc)
		}
	}
	filter.WriteString(first(cfg, "customUserSearchFilter"))
	if filter.Len() > 0 {
		us["filter"] = "(&" + filter.String() + ")"
	}
	switch first(cfg, "searchScope") {
	case "1":
		us["scope"] = "one"
	case "2":
		us["scope"] = "sub"
	}
	for _, m := range c.SubComponents["org.keycloak.storage.ldap.mappers.LDAPStorageMapper"] {
		mc := m.Config
		switch m.ProviderID {
		case "user-attribute-ldap-mapper":
			switch first(mc, "user.model.attribute") {
			case "email":
				us["email_attribute"] = first(mc, "ldap.attribute")
			case "username":
				us["preferred_username_attribute"] = first(mc, "ldap.attribute")
			case "firstName", "lastName":
				// the full name comes from name_attribute (cn by default)
			default:
				r.Skip("%s: mapper %q: user attribute %s not mapped (add it to extra_attributes by hand)", what, m.Name, first(mc, "user.model.attribute"))
			}
		case "full-name-ldap-mapper":
			us["name_attribute"] = first(mc, "ldap.full.name.attribute")
		case "group-ldap-mapper":
			g := map[string]any{"base_dn": first(mc, "groups.dn")}
			if a := first(mc, "group.name.ldap.attribute"); a != "" {
				g["name_attribute"] = a
			}
			if a := first(mc, "membership.ldap.attribute"); a != "" {
				g["member_attribute"] = a
			}
			if first(mc, "membership.attribute.type") == "UID" {
				g["member_value"] = first(cfg, "usernameLDAPAttribute")
			}
			out["group_search"] = g
		default:
			r.Skip("%s: mapper %q (%s) not mapped", what, m.Name, importer.ID(m.ProviderID))
		}
	}
	out["user_search"] = us
	id := strings.ToLower(strings.NewReplacer(" ", "-", "_", "-").Replace(c.Name))
	if id == "" {
		id = "ldap"
	}
	r.Connectors = append(r.Connectors, importer.Connector{ID: id, Type: "ldap", Name: c.Name, Config: out})
}
