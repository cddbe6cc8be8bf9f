package saml_test

import (
	"slices"
	"testing"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// TestAttributeDefaults: the default attribute names read what Entra ID /
// AD FS, Shibboleth-style OIDs and plain-named IdPs send.
func TestAttributeDefaults(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name  string
		attrs map[string][]string
		split bool
		want  sdk.Identity
	}{
		{"Entra ID", map[string][]string{
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": {"a@corp.example"},
			"http://schemas.microsoft.com/identity/claims/displayname":           {"A Person"},
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name":         {"a@corp.onmicrosoft.com"},
			"http://schemas.microsoft.com/ws/2008/06/identity/claims/groups":     {"g1", "g2"},
		}, true, sdk.Identity{Email: "a@corp.example", Name: "A Person", Username: "a@corp.onmicrosoft.com", Groups: []string{"g1", "g2"}}},
		{"AD FS", map[string][]string{
			"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress": {"a@corp.example"},
			"http://schemas.xmlsoap.org/claims/Group":                            {"Domain Users", "Admins"},
		}, false, sdk.Identity{Email: "a@corp.example", Groups: []string{"Domain Users", "Admins"}}},
		{"OIDs", map[string][]string{
			"urn:oid:0.9.2342.19200300.100.1.3": {"a@uni.example"},
			"urn:oid:2.16.840.1.113730.3.1.241": {"A Student"},
			"urn:oid:0.9.2342.19200300.100.1.1": {"astudent"},
			"urn:oid:1.3.6.1.4.1.5923.1.5.1.1":  {"cn=staff,ou=groups", "cn=lab,ou=groups"},
		}, false, sdk.Identity{Email: "a@uni.example", Name: "A Student", Username: "astudent", Groups: []string{"cn=staff,ou=groups", "cn=lab,ou=groups"}}},
		{"plain names", map[string][]string{
			"email": {"a@okta.example"}, "name": {"A Okta"}, "username": {"aokta"}, "groups": {"Everyone", "Everyone", "eng"},
		}, true, sdk.Identity{Email: "a@okta.example", Name: "A Okta", Username: "aokta", Groups: []string{"Everyone", "eng"}}},
		{"mail and memberOf", map[string][]string{"mail": {"a@x.example"}, "memberOf": {"x"}, "cn": {"A X"}},
			false, sdk.Identity{Email: "a@x.example", Name: "A X", Groups: []string{"x"}}},
		{"first listed wins", map[string][]string{"mail": {"second@x"}, "urn:oid:0.9.2342.19200300.100.1.3": {"first@x"}},
			false, sdk.Identity{Email: "first@x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := f.start(t)
			fg := f.forge(rd)
			fg.Attributes, fg.SplitAttributes = tc.attrs, tc.split
			id, err := f.callback(rd.Data, encode(t, fg))
			if err != nil {
				t.Fatal(err)
			}
			w := tc.want
			if id.Subject != testenv.SAMLAlice.NameID || id.Email != w.Email || id.Name != w.Name || id.Username != w.Username ||
				id.PreferredUsername != w.Username || id.EmailVerified || !slices.Equal(id.Groups, w.Groups) {
				t.Errorf("got %+v\nwant %+v", id, w)
			}
		})
	}
}

// TestAttributeConfig: configured names, email_verified, extra attributes
// and a subject attribute.
func TestAttributeConfig(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) {
		c.EmailAttributes, c.NameAttributes, c.GroupsAttributes = []string{"corpMail"}, []string{"fullName"}, []string{"roles"}
		c.UsernameAttributes, c.ExtraAttributes = []string{"login"}, []string{"department", "absent"}
		c.EmailVerified, c.SubjectAttribute = true, "objectGUID"
	})
	attrs := map[string][]string{
		"corpMail": {"a@corp"}, "fullName": {"A"}, "roles": {"r1", "r2"}, "login": {"a"}, "department": {"R&D"},
		"email": {"ignored@x"}, "objectGUID": {"b1f2c3d4"},
	}
	rd := f.start(t)
	fg := f.forge(rd)
	fg.Attributes = attrs
	id, err := f.callback(rd.Data, encode(t, fg))
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "b1f2c3d4" || id.Email != "a@corp" || !id.EmailVerified || id.Name != "A" || id.Username != "a" ||
		!slices.Equal(id.Groups, []string{"r1", "r2"}) || len(id.Attributes) != 1 || id.Attributes["department"][0] != "R&D" {
		t.Errorf("%+v", id)
	}
	for name, v := range map[string][]string{"two values": {"x", "y"}, "absent": nil} {
		rd := f.start(t)
		fg := f.forge(rd)
		fg.Attributes = map[string][]string{"objectGUID": v}
		_, err := f.callback(rd.Data, encode(t, fg))
		t.Run(name, func(t *testing.T) { rejected(t, f, err, "subject attribute") })
	}
}

// TestNameIDFormat: a NameID subject must be of the configured format, and
// never transient.
func TestNameIDFormat(t *testing.T) {
	const (
		persistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
		transient  = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
		email      = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
	)
	for _, tc := range []struct {
		configured, sent string
		reason           string // "" if accepted
	}{
		{"", persistent, ""},
		{"", transient, "transient"},
		{"", email, "format"},
		{"emailAddress", email, ""},
		{"emailAddress", persistent, "format"},
		{"unspecified", email, ""},
		{"unspecified", transient, "transient"},
	} {
		t.Run(tc.configured+" "+tc.sent, func(t *testing.T) {
			f := newFixture(t, func(c *saml.Config) { c.NameIDFormat = tc.configured })
			rd := f.start(t)
			fg := f.forge(rd)
			fg.NameIDFormat = tc.sent
			_, err := f.callback(rd.Data, encode(t, fg))
			if tc.reason == "" && err != nil {
				t.Fatal(err)
			} else if tc.reason != "" {
				rejected(t, f, err, tc.reason)
			}
		})
	}
}
