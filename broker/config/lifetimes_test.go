package config

import (
	"strings"
	"testing"
	"time"
)

// TestCheckClientLifetimes: the bounds the file and the admin API share.
func TestCheckClientLifetimes(t *testing.T) {
	h := time.Hour
	for _, c := range []struct {
		name                         string
		access, id, idle, abs, grace time.Duration
		field, msg                   string
	}{
		{name: "defaults (zero)"},
		{name: "at the bounds", access: 24 * h, id: 24 * h, idle: 8760 * h, abs: 8760 * h, grace: time.Minute},
		{name: "negative", access: -time.Second, field: "access_token_ttl", msg: "negative"},
		{name: "access too long", access: 25 * h, field: "access_token_ttl", msg: "at most 24h"},
		{name: "id too long", id: 100000 * h, field: "id_token_ttl", msg: "at most 24h"},
		{name: "refresh too long", abs: 8761 * h, field: "refresh_absolute_ttl", msg: "at most 8760h"},
		{name: "grace too long", grace: 61 * time.Second, field: "refresh_reuse_grace", msg: "at most 1m"},
		{name: "idle beyond absolute", idle: 48 * h, abs: 24 * h, field: "refresh_idle_ttl", msg: "must not exceed"},
	} {
		field, msg := CheckClientLifetimes(c.access, c.id, c.idle, c.abs, c.grace)
		if field != c.field || !strings.Contains(msg, c.msg) || (c.msg == "") != (msg == "") {
			t.Errorf("%s: %q %q, want %q containing %q", c.name, field, msg, c.field, c.msg)
		}
	}
}

// TestDisplayNames: names of clients, connectors and users follow one rule
// in the file, as in the admin API.
func TestDisplayNames(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"", ""}, {"Zoë Ürümqi 山田", ""}, {"a\x1bb", "control"}, {strings.Repeat("n", 257), "longer than"}, {" pad", "spaces"},
	} {
		if got := CheckDisplayName(c.name); (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("CheckDisplayName(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
