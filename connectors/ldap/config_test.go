package ldap_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/ldap"
)

const minimal = `{"url":"ldaps://ldap.example.org","user_search":{"base_dn":"ou=people,dc=example,dc=org"}}`

func TestParseConfigDefaults(t *testing.T) {
	cfg, err := ldap.ParseConfig([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	u, g := cfg.UserSearch, cfg.GroupSearch
	if time.Duration(cfg.ConnectTimeout) != ldap.DefaultConnectTimeout || time.Duration(cfg.Timeout) != ldap.DefaultTimeout ||
		cfg.PoolSize != ldap.DefaultPoolSize || cfg.EmailVerified {
		t.Errorf("connection defaults: %+v", cfg)
	}
	if u.Scope != "sub" || u.Filter != ldap.DefaultUserFilter || !slices.Equal(u.UsernameAttributes, []string{"uid"}) ||
		u.IDAttribute != "entryUUID" || u.EmailAttribute != "mail" || u.NameAttribute != "cn" ||
		u.PreferredUsernameAttribute != "uid" || u.GroupsAttribute != "" || u.EnabledFilter != "" {
		t.Errorf("user_search defaults: %+v", u)
	}
	if g.BaseDN != "" || g.NameAttribute != "cn" || g.Nested || g.MaxDepth != 0 {
		t.Errorf("group_search defaults: %+v", g)
	}

	cfg, err = ldap.ParseConfig([]byte(`{"url":"ldap://h:1389","start_tls":true,"timeout":"1m30s",
		"user_search":{"base_dn":"dc=x","username_attributes":["mail","uid"]},
		"group_search":{"base_dn":"ou=groups,dc=x","nested":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Timeout) != 90*time.Second || cfg.UserSearch.PreferredUsernameAttribute != "mail" {
		t.Errorf("timeout %v, preferred_username_attribute %q", time.Duration(cfg.Timeout), cfg.UserSearch.PreferredUsernameAttribute)
	}
	g = cfg.GroupSearch
	if g.Filter != ldap.DefaultGroupFilter || g.MemberAttribute != "member" || g.MemberValue != "dn" || g.MaxDepth != ldap.DefaultMaxDepth {
		t.Errorf("group_search defaults with base_dn: %+v", g)
	}
}

// Every error names the field at fault, as the operator wrote it.
func TestParseConfigErrors(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(caFile, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	us := `"user_search":{"base_dn":"dc=x"}`
	tests := []struct{ name, json, want string }{
		{"empty", `{}`, "ldap: config.url: required"},
		{"no base dn", `{"url":"ldaps://h"}`, "ldap: config.user_search.base_dn: required"},
		{"bad base dn", `{"url":"ldaps://h","user_search":{"base_dn":"people"}}`, "ldap: config.user_search.base_dn:"},
		{"bad group base dn", `{"url":"ldaps://h",` + us + `,"group_search":{"base_dn":"=x"}}`, "ldap: config.group_search.base_dn:"},
		{"bad filter", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","filter":"(&(uid=a)"}}`, "ldap: config.user_search.filter:"},
		{"filter without parens", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","filter":"uid=a"}}`, "ldap: config.user_search.filter:"},
		{"bad enabled filter", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","enabled_filter":"(!x)"}}`, "ldap: config.user_search.enabled_filter:"},
		{"bad group filter", `{"url":"ldaps://h",` + us + `,"group_search":{"base_dn":"dc=g","filter":"(("}}`, "ldap: config.group_search.filter:"},
		{"unknown field", `{"url":"ldaps://h",` + us + `,"bind_pasword":"x"}`, `ldap: config: unknown field "bind_pasword"`},
		{"unknown nested field", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","bsae_dn":"y"}}`, `ldap: config: unknown field "bsae_dn"`},
		{"bad duration", `{"url":"ldaps://h",` + us + `,"timeout":"soon"}`, `ldap: config.timeout: "soon" is not a duration`},
		{"number duration", `{"url":"ldaps://h",` + us + `,"connect_timeout":5}`, "ldap: config.connect_timeout:"},
		{"negative duration", `{"url":"ldaps://h",` + us + `,"timeout":"-1s"}`, "ldap: config.timeout:"},
		{"wrong type", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","username_attributes":"uid"}}`, "ldap: config.user_search.username_attributes:"},
		{"bad attribute", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","username_attributes":["uid","m ail"]}}`, "ldap: config.user_search.username_attributes[1]:"},
		{"dn as id", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","id_attribute":"dn"}}`, "ldap: config.user_search.id_attribute:"},
		{"pool size", `{"url":"ldaps://h",` + us + `,"pool_size":1000}`, "ldap: config.pool_size:"},
		{"plain ldap", `{"url":"ldap://h",` + us + `}`, "ldap: config.url: ldap:// without TLS"},
		{"bad scheme", `{"url":"http://h",` + us + `}`, "ldap: config.url: scheme"},
		{"dn in url", `{"url":"ldaps://h/dc=x",` + us + `}`, "ldap: config.url:"},
		{"starttls on ldaps", `{"url":"ldaps://h","start_tls":true,` + us + `}`, "ldap: config.start_tls:"},
		{"no tls and tls", `{"url":"ldaps://h","insecure_no_tls":true,` + us + `}`, "ldap: config.insecure_no_tls:"},
		{"bind dn without password", `{"url":"ldaps://h","bind_dn":"cn=a,dc=x",` + us + `}`, "ldap: config.bind_password: required"},
		{"password without bind dn", `{"url":"ldaps://h","bind_password":"p",` + us + `}`, "ldap: config.bind_dn: required"},
		{"missing ca file", `{"url":"ldaps://h","root_ca":"/nonexistent/ca.pem",` + us + `}`, "ldap: config.root_ca:"},
		{"ca file without pem", `{"url":"ldaps://h","root_ca":"` + caFile + `",` + us + `}`, "ldap: config.root_ca: no PEM certificate"},
		{"ca data without pem", `{"url":"ldaps://h","root_ca_data":"x",` + us + `}`, "ldap: config.root_ca_data:"},
		{"member without base", `{"url":"ldaps://h",` + us + `,"group_search":{"member_attribute":"member"}}`, "ldap: config.group_search.base_dn: required"},
		{"nested without source", `{"url":"ldaps://h",` + us + `,"group_search":{"nested":true}}`, "ldap: config.nested_groups:"},
		{"nested without source, new spelling", `{"url":"ldaps://h",` + us + `,"nested_groups":true}`, "ldap: config.nested_groups:"},
		{"nested twice", `{"url":"ldaps://h",` + us + `,"nested_groups":true,"group_search":{"nested":true,"name_attribute":"cn"},"group_searches":[{"base_dn":"dc=g"}]}`, "ldap: config.group_search.nested:"},
		{"depth without nesting", `{"url":"ldaps://h",` + us + `,"max_group_depth":3}`, "ldap: config.max_group_depth:"},
		{"depth out of range", `{"url":"ldaps://h",` + us + `,"nested_groups":true,"max_group_depth":33,"group_searches":[{"base_dn":"dc=g"}]}`, "ldap: config.max_group_depth:"},
		{"search and searches", `{"url":"ldaps://h",` + us + `,"group_search":{"base_dn":"dc=g"},"group_searches":[{"base_dn":"dc=g"}]}`, "ldap: config.group_search.base_dn: set with group_searches"},
		{"searches without base", `{"url":"ldaps://h",` + us + `,"group_searches":[{"filter":"(objectClass=*)"}]}`, "ldap: config.group_searches[0].base_dn: required"},
		{"searches bad filter", `{"url":"ldaps://h",` + us + `,"group_searches":[{"base_dn":"dc=g"},{"base_dn":"dc=g","filter":"x"}]}`, "ldap: config.group_searches[1].filter:"},
		{"searches nested per item", `{"url":"ldaps://h",` + us + `,"group_searches":[{"base_dn":"dc=g","nested":true}]}`, "ldap: config.group_searches[0].nested:"},
		{"in chain by uid", `{"url":"ldaps://h",` + us + `,"group_searches":[{"base_dn":"dc=g","member_attribute":"memberUid","in_chain":true}]}`, "ldap: config.group_searches[0].in_chain:"},
		{"url and urls", `{"url":"ldaps://h","urls":["ldaps://i"],` + us + `}`, "ldap: config.url: set with urls"},
		{"urls bad second", `{"urls":["ldaps://h","http://i"],` + us + `}`, "ldap: config.urls[1]: scheme must be"},
		{"urls mixed schemes", `{"urls":["ldaps://h","ldap://i"],"start_tls":false,` + us + `}`, "ldap: config.urls[1]:"},
		{"health check", `{"url":"ldaps://h","health_check_interval":"-1s",` + us + `}`, "ldap: config.health_check_interval:"},
		{"page size", `{"url":"ldaps://h","page_size":100000,` + us + `}`, "ldap: config.page_size:"},
		{"account control", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","account_control_attribute":"a b"}}`, "ldap: config.user_search.account_control_attribute:"},
		{"depth too big", `{"url":"ldaps://h",` + us + `,"group_search":{"base_dn":"dc=g","nested":true,"max_depth":99}}`, "ldap: config.group_search.max_depth:"},
		{"depth without nested", `{"url":"ldaps://h",` + us + `,"group_search":{"base_dn":"dc=g","max_depth":3}}`, "ldap: config.group_search.max_depth:"},
		{"scope", `{"url":"ldaps://h","user_search":{"base_dn":"dc=x","scope":"base"}}`, "ldap: config.user_search.scope:"},
		{"trailing data", minimal + `{}`, "ldap: config: unexpected data"},
		{"not json", `url: ldaps://h`, "ldap: config: invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ldap.ParseConfig([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig(%s)\n error %v\n want  %q", tt.json, err, tt.want)
			}
		})
	}
}

// All the problems are reported at once, one per line.
func TestParseConfigAllErrors(t *testing.T) {
	_, err := ldap.ParseConfig([]byte(`{"url":"ldap://h","pool_size":-1,"user_search":{"filter":"x"}}`))
	if err == nil {
		t.Fatal("no error")
	}
	for _, field := range []string{"config.url", "config.pool_size", "config.user_search.base_dn", "config.user_search.filter"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s:\n%v", field, err)
		}
	}
}

// The service account's password appears in no error.
func TestParseConfigHidesPassword(t *testing.T) {
	_, err := ldap.ParseConfig([]byte(`{"url":"ldap://h","bind_dn":"x","bind_password":"hunter2","user_search":{}}`))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v", err)
	}
}

// The defaults of group searches follow the member attribute, so that no
// default searches entries that cannot hold it (the old default searched
// posixGroups for a member attribute they never have); the old single
// group_search is one search of the list; urls default from url.
func TestParseConfigGroupSearches(t *testing.T) {
	cfg, err := ldap.ParseConfig([]byte(`{"url":"ldaps://h","user_search":{"base_dn":"dc=x"},"nested_groups":true,
		"group_searches":[{"base_dn":"dc=g"},{"base_dn":"dc=g","member_attribute":"uniqueMember"},{"base_dn":"dc=g","member_attribute":"memberUid"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []ldap.GroupSearch{
		{BaseDN: "dc=g", Scope: "sub", Filter: ldap.DefaultGroupFilter, MemberAttribute: "member", MemberValue: "dn", NameAttribute: "cn"},
		{BaseDN: "dc=g", Scope: "sub", Filter: "(objectClass=groupOfUniqueNames)", MemberAttribute: "uniqueMember", MemberValue: "dn", NameAttribute: "cn"},
		{BaseDN: "dc=g", Scope: "sub", Filter: "(objectClass=posixGroup)", MemberAttribute: "memberUid", MemberValue: "uid", NameAttribute: "cn"},
	}
	if !slices.Equal(cfg.GroupSearches, want) || cfg.MaxGroupDepth != ldap.DefaultMaxDepth {
		t.Errorf("group_searches %+v, depth %d", cfg.GroupSearches, cfg.MaxGroupDepth)
	}
	if !slices.Equal(cfg.URLs, []string{"ldaps://h"}) || time.Duration(cfg.HealthCheckInterval) != ldap.DefaultHealthCheckInterval || cfg.PageSize != ldap.DefaultPageSize {
		t.Errorf("urls %q, health %v, page %d", cfg.URLs, cfg.HealthCheckInterval, cfg.PageSize)
	}
	cfg, err = ldap.ParseConfig([]byte(`{"urls":["ldaps://a","ldaps://b:1636"],"user_search":{"base_dn":"dc=x"}}`))
	if err != nil || cfg.URL != "ldaps://a" {
		t.Errorf("urls: %v, url %q", err, cfg.URL)
	}
}
