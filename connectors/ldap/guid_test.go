package ldap

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// Known objectGUID values: the base64 form is what ldapsearch prints for
// AD's objectGUID, the string what PowerShell's Get-ADUser shows.
func TestFormatGUID(t *testing.T) {
	tests := []struct{ b64, want string }{
		// Bytes 32 c3 4a 8c 5f 97 17 47 ad 7b ba 4a 4e 96 8f ff.
		{"MsNKjF+XF0ete7pKTpaP/w==", "8c4ac332-975f-4717-ad7b-ba4a4e968fff"},
		{"BpazOkLGm0iEtljAONPvOQ==", "3ab39606-c642-489b-84b6-58c038d3ef39"},
		// Bytes 03 02 01 00 05 04 07 06 08 09 ... 0f: the layout itself.
		{"AwIBAAUEBwYICQoLDA0ODw==", "00010203-0405-0607-0809-0a0b0c0d0e0f"},
	}
	for _, tt := range tests {
		raw, err := base64.StdEncoding.DecodeString(tt.b64)
		if err != nil {
			t.Fatal(err)
		}
		got, err := formatGUID(raw)
		if err != nil || got != tt.want {
			t.Errorf("formatGUID(%s) = %q, %v; want %q", tt.b64, got, err, tt.want)
		}
		back, err := parseGUID(tt.want)
		if err != nil || !bytes.Equal(back, raw) {
			t.Errorf("parseGUID(%q) = %x, %v; want %x", tt.want, back, err, raw)
		}
	}
	for _, n := range []int{0, 15, 17} {
		if _, err := formatGUID(make([]byte, n)); err == nil {
			t.Errorf("formatGUID of %d bytes: no error", n)
		}
	}
	for _, s := range []string{"", "8c4ac332975f4717ad7bba4a4e968fff", "{8c4ac332-975f-4717-ad7b-ba4a4e968fff}",
		"8c4ac332-975f-4717-ad7b-ba4a4e968ffg", "8c4ac332-975f-4717-ad7b+ba4a4e968fff"} {
		if _, err := parseGUID(s); err == nil {
			t.Errorf("parseGUID(%q): no error", s)
		}
	}
}

func TestEscapeBytes(t *testing.T) {
	got := escapeBytes([]byte{0x32, 0xc3, 0x00, '*', '('})
	if want := `\32\c3\00\2a\28`; got != want {
		t.Errorf("escapeBytes = %q, want %q", got, want)
	}
}

func TestNormDNAndRDN(t *testing.T) {
	if a, b := normDN("CN=Staff, OU=Groups,DC=example,DC=org"), normDN("cn=staff,ou=groups,dc=example,dc=org"); a != b {
		t.Errorf("normDN: %q != %q", a, b)
	}
	for _, tt := range []struct{ dn, attr, want string }{
		{"cn=developers,ou=groups,dc=example,dc=org", "cn", "developers"},
		{"CN=Domain Admins,CN=Users,DC=corp", "cn", "Domain Admins"},
		{`cn=a\,b,dc=x`, "cn", "a,b"},
		{"ou=x,dc=y", "cn", ""},
		{"ou=x,dc=y", "", "x"},
		{"not a dn", "cn", ""},
		{"cn=a+sn=b,dc=x", "cn", ""},
	} {
		if got := rdnValue(tt.dn, tt.attr); got != tt.want {
			t.Errorf("rdnValue(%q, %q) = %q, want %q", tt.dn, tt.attr, got, tt.want)
		}
	}
}
