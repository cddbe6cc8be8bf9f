package config

import (
	"net/url"
	"strings"
	"testing"
)

// TestCheckBackchannelLogoutURI: a back-channel logout URI is where Portico
// itself sends requests, so it is an https URL (http only on loopback)
// under the redirect URI rules, and only a confidential client's kinds.
func TestCheckBackchannelLogoutURI(t *testing.T) {
	for _, c := range []struct {
		uri  string
		want string // part of the message; "" when accepted
	}{
		{uri: "https://app.example.com/backchannel"},
		{uri: "https://app.example.com:8443/bc?tenant=a"}, // §2.2: a query is allowed
		{uri: "http://127.0.0.1:5555/bc"},
		{uri: "http://[::1]/bc"},
		{uri: "http://localhost/bc"},
		{uri: "http://app.example.com/bc", want: "http is allowed only for loopback hosts"},
		{uri: "https://app.example.com/bc#x", want: "fragment"},
		{uri: "/bc", want: "absolute"},
		{uri: "com.example.app:/bc", want: "custom scheme"},
		{uri: "javascript:alert(1)", want: "not allowed"},
		{uri: "https://user@app.example.com/bc", want: "user info"},
		{uri: "https://*.example.com/bc", want: "wildcard"},
		{uri: "https://app.example.com/" + strings.Repeat("a", 2048), want: "at most 2048"},
	} {
		got := CheckBackchannelLogoutURI(c.uri)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%.60q: %q, want %q", c.uri, got, c.want)
		}
	}
}

// TestValidateBackchannel: the file's keys are checked, with the field's
// path in the message.
func TestValidateBackchannel(t *testing.T) {
	for _, c := range []struct {
		name     string
		uri      string
		required bool
		want     string
	}{
		{"https", "https://app.example.com/bc", true, ""},
		{"plain http off loopback", "http://app.example.com/bc", false, "clients[0].backchannel_logout_uri: http is allowed only"},
		{"session required without a URI", "", true, "clients[0].backchannel_logout_session_required: needs backchannel_logout_uri"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &Config{
				Issuer: "https://id.example.com", Listen: "127.0.0.1:5556",
				Storage:    Storage{Type: "badger", Dir: t.TempDir()},
				Connectors: []Connector{{ID: "local", Type: "local", Name: "Email"}},
				Clients: []Client{{ID: "app", Secret: "app-secret-app-secret", RedirectURIs: []string{"https://app.example.com/cb"},
					BackchannelLogoutURI: c.uri, BackchannelLogoutSessionRequired: c.required}},
			}
			cfg.ApplyDefaults()
			err := cfg.Validate()
			if c.want == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

// FuzzBackchannelLogoutURI: whatever CheckBackchannelLogoutURI accepts is
// an http(s) URL Portico can POST to without surprises, by rules restated
// here rather than taken from the function under test.
func FuzzBackchannelLogoutURI(f *testing.F) {
	for _, s := range []string{"https://app.example.com/bc?x=1", "http://127.0.0.1:1/bc", "HTTP://LOCALHOST/bc",
		"http://127.0.0.1.evil/bc", "https://a@b/bc", `https://a\b/c`, "https://[::1]:0/", "ftp://x/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if CheckBackchannelLogoutURI(raw) != "" {
			return
		}
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			t.Fatalf("accepted an unparsable URL %q", raw)
		case len(raw) > 2048, strings.ContainsAny(raw, `#\`), u.User != nil, u.Hostname() == "":
			t.Fatalf("accepted %q", raw)
		}
		switch strings.ToLower(u.Scheme) {
		case "https":
		case "http":
			if h := u.Hostname(); h != "127.0.0.1" && h != "::1" && !strings.EqualFold(h, "localhost") {
				t.Fatalf("accepted plain http off loopback: %q", raw)
			}
		default:
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
	})
}
