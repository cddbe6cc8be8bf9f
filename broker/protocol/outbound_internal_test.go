package protocol

import (
	"net/netip"
	"testing"
)

// TestPublicAddr: the guard's idea of a public address.
func TestPublicAddr(t *testing.T) {
	for _, c := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true}, {"2001:4860:4860::8888", true}, {"93.184.216.34", true},
		{"127.0.0.1", false}, {"127.8.9.10", false}, {"::1", false}, {"0.0.0.0", false}, {"::", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false}, {"100.64.0.1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, {"fc00::1", false}, {"fd12::1", false},
		{"224.0.0.1", false}, {"ff02::1", false}, {"255.255.255.255", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:8.8.8.8", true},
		// Special-purpose ranges (RFC 6890), found by a black-box attack.
		{"198.18.0.1", false}, {"198.19.255.1", false}, {"192.0.0.1", false}, {"192.0.2.1", false},
		{"203.0.113.9", false}, {"240.0.0.1", false}, {"64:ff9b::a00:1", false}, {"2002:a00:1::1", false},
		{"2001:db8::1", false}, {"198.20.0.1", true}, {"192.0.3.1", true},
	} {
		if got := publicAddr(netip.MustParseAddr(c.addr)); got != c.public {
			t.Errorf("publicAddr(%s) = %v, want %v", c.addr, got, c.public)
		}
	}
	for uri, want := range map[string]bool{
		"http://127.0.0.1:8080/jwks": true, "https://[::1]/x": true, "https://169.254.169.254/latest": true,
		"https://10.0.0.1/": true, "https://[::ffff:192.168.0.1]/": true, "https://8.8.8.8/": false,
		"http://localhost:8080/":    false, // a name: the guard sees what it resolves to
		"https://rp.example.com/bc": false, "": false,
	} {
		if got := privateLiteral(uri); got != want {
			t.Errorf("privateLiteral(%q) = %v, want %v", uri, got, want)
		}
	}
}
