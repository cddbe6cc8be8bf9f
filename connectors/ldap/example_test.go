package ldap_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
)

// A connector for Active Directory. The broker builds the Config from the
// connector's YAML config block with ParseConfig; this is the same in Go.
// (No output: it needs a domain controller.)
func Example_activeDirectory() {
	cfg := ldap.Config{
		URL:          "ldaps://dc1.corp.example.com",
		RootCA:       "/etc/portico/corp-ca.pem",
		BindDN:       "CN=portico,OU=Service Accounts,DC=corp,DC=example,DC=com",
		BindPassword: os.Getenv("PORTICO_LDAP_PASSWORD"),
		UserSearch: ldap.UserSearch{
			BaseDN:                     "OU=Staff,DC=corp,DC=example,DC=com",
			Filter:                     "(&(objectCategory=person)(objectClass=user))",
			UsernameAttributes:         []string{"sAMAccountName", "userPrincipalName"},
			IDAttribute:                "objectGUID", // binary; the subject is its UUID string
			NameAttribute:              "displayName",
			PreferredUsernameAttribute: "sAMAccountName",
			GroupsAttribute:            "memberOf",
			// Bit 2 of userAccountControl (ACCOUNTDISABLE) unset.
			EnabledFilter: "(!(userAccountControl:1.2.840.113556.1.4.803:=2))",
		},
		GroupSearch: ldap.GroupSearch{Nested: true, MaxDepth: 5},
	}
	c, err := ldap.New(context.Background(), cfg, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	id, err := c.Login(context.Background(), sdk.Scopes{Groups: true}, "jdoe", "correct horse battery staple")
	if err != nil {
		fmt.Println(err) // sdk.ErrInvalidCredentials, or wraps sdk.ErrUnavailable
		return
	}
	fmt.Println(id.Subject, id.PreferredUsername, id.Groups)
}

// The JSON the broker hands to ParseConfig: the connector's YAML config
// block, converted.
func ExampleParseConfig() {
	cfg, err := ldap.ParseConfig([]byte(`{
		"url": "ldap://ldap.example.org",
		"start_tls": true,
		"bind_dn": "cn=portico,ou=services,dc=example,dc=org",
		"bind_password": "secret",
		"timeout": "5s",
		"user_search": {"base_dn": "ou=people,dc=example,dc=org", "username_attributes": ["uid", "mail"]},
		"group_search": {"base_dn": "ou=groups,dc=example,dc=org", "nested": true}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.UserSearch.IDAttribute, cfg.GroupSearch.MemberAttribute, cfg.GroupSearch.MaxDepth)

	_, err = ldap.ParseConfig([]byte(`{"url": "ldap://ldap.example.org", "user_search": {}}`))
	fmt.Println(err)
	// Output:
	// entryUUID member 10
	// ldap: config.url: ldap:// without TLS sends passwords in clear: use ldaps://, or start_tls: true, or (for tests) insecure_no_tls: true
	// ldap: config.user_search.base_dn: required
}
