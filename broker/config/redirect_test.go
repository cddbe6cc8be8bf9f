package config

import (
	"strings"
	"testing"
)

// TestCheckRedirectURI: the rules every redirect URI follows, whether it
// comes from the configuration file, the admin API or dynamic
// registration (all three call CheckRedirectURI).
func TestCheckRedirectURI(t *testing.T) {
	tests := []struct {
		uri    string
		public bool
		want   string // part of the message; "" when accepted
	}{
		// Accepted.
		{uri: "https://app.example.com/cb"},
		{uri: "https://app.example.com:8443/cb?tenant=a"},
		{uri: "https://app.example.com:65535/cb"},
		{uri: "https://app.example.com:1/cb"},
		{uri: "http://127.0.0.1/cb"},
		{uri: "http://127.0.0.1:5555/callback"},
		{uri: "http://[::1]:8080/cb"},
		{uri: "http://localhost/cb"},
		{uri: "HTTP://LOCALHOST/cb"},
		{uri: "https://app.example.com/%5Ccb"}, // an escaped backslash is a path byte to everyone
		{uri: "com.example.app:/cb", public: true},
		{uri: "com.example.app://cb", public: true},

		// Refused, as before.
		{uri: "", want: "must not be empty"},
		{uri: "/cb", want: "must be an absolute URL"},
		{uri: "https://app.example.com/cb#x", want: "fragment"},
		{uri: "https://app.example.com/cb#", want: "fragment"},
		{uri: "http://app.example.com/cb", want: "http is allowed only for loopback hosts"},
		{uri: "http://127.0.0.1.evil.example/cb", want: "http is allowed only for loopback hosts"},
		{uri: "com.example.app:/cb", want: "custom scheme"},
		{uri: "javascript:alert(1)", public: true, want: "not allowed"},
		{uri: "https:///cb", want: "must have a host"},
		{uri: "https:app.example.com/cb", want: "must have a host"},
		{uri: "https://app.example.com:abc/cb", want: "not a valid URL"},

		// Refused since the security review.
		{uri: "https://user:pw@app.example.com/cb", want: "user info"},
		{uri: "https://user@app.example.com/cb", want: "user info"},
		{uri: "https://@app.example.com/cb", want: "user info"},
		{uri: "http://127.0.0.1@evil.example/cb", want: "user info"},
		{uri: `https://app.example.com/cb\..\open`, want: "backslash"},
		{uri: `https://app.example.com\@evil.example/cb`, want: "backslash"},
		{uri: `com.example.app:/cb\x`, public: true, want: "backslash"},
		// RFC 3986's characters only (found by a black-box attack).
		{uri: "https://app.example.com/cb ", want: "RFC 3986"},
		{uri: "https://app.example.com/c b", want: "RFC 3986"},
		{uri: "https://app.example.com/cb\x00", want: "RFC 3986"},
		{uri: "https://\u0415xample.com/cb", want: "RFC 3986"}, // a Cyrillic E
		{uri: "https://app.example.com/cb?x=<script>", want: "RFC 3986"},
		{uri: "https://xn--xample-2of.com/cb"},       // the same host in punycode
		{uri: "https://app.example.com/cb?x=%20%3C"}, // encoded, they are fine
		{uri: "https://*.example.com/cb", want: "wildcard"},
		{uri: "https://app*.example.com/cb", want: "wildcard"},
		{uri: "com.example.app://*/cb", public: true, want: "wildcard"},
		{uri: "https://:443/cb", want: "must have a host"},
		{uri: "http://:80/cb", want: "must have a host"},
		{uri: "https://app.example.com:0/cb", want: "port"},
		{uri: "http://127.0.0.1:0/cb", want: "port"},
		{uri: "https://app.example.com:65536/cb", want: "port"},
		{uri: "http://[::1]:99999999999999999999/cb", want: "port"},
		{uri: "https://app.example.com:/cb", want: "port"},
		{uri: "http://[::1]:/cb", want: "port"},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			got := CheckRedirectURI(tc.uri, tc.public)
			switch {
			case tc.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tc.want != "" && got == "":
				t.Errorf("accepted; want %q", tc.want)
			case !strings.Contains(got, tc.want):
				t.Errorf("message %q; want it to contain %q", got, tc.want)
			}
			// A confidential client's URI is a public client's too.
			if !tc.public && tc.want == "" {
				if msg := CheckRedirectURI(tc.uri, true); msg != "" {
					t.Errorf("refused for a public client: %s", msg)
				}
			}
		})
	}
}
