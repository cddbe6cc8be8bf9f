package protocol

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
)

// FuzzExchangeRequest: any token exchange form is either refused with
// invalid_request or yields a request within its bounds; never a panic.
func FuzzExchangeRequest(f *testing.F) {
	for _, s := range []string{
		"subject_token=a.b.c&subject_token_type=urn:ietf:params:oauth:token-type:jwt",
		"subject_token=x&subject_token_type=urn:ietf:params:oauth:token-type:access_token&scope=a+b&audience=orders&audience=orders&resource=https://api.example.com/",
		"subject_token=x&subject_token_type=urn:ietf:params:oauth:token-type:id_token&actor_token=y&actor_token_type=urn:ietf:params:oauth:token-type:access_token",
		"subject_token=x&subject_token_type=urn:ietf:params:oauth:token-type:jwt&requested_token_type=urn:ietf:params:oauth:token-type:jwt",
		"subject_token=x&subject_token_type=urn:ietf:params:oauth:token-type:jwt&resource=rel/path",
		"subject_token=x&subject_token_type=urn:ietf:params:oauth:token-type:saml2",
		"subject_token=&actor_token=y",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		r, terr := parseExchangeRequest(form)
		if terr != nil {
			if terr.code != "invalid_request" || terr.status != 400 {
				t.Fatalf("error %v", terr)
			}
			return
		}
		if r.SubjectToken == "" || (r.ActorToken == "") != (r.ActorType == "") || len(r.Targets) > maxExchangeTargets {
			t.Fatalf("accepted %+v", r)
		}
		for i, a := range r.Targets {
			if a == "" || len(a) > 255 || slices.Contains(r.Targets[:i], a) {
				t.Fatalf("target %q accepted", a)
			}
		}
	})
}

// FuzzExchangeSubject: any subject token and template are read without
// panic, and a mapped subject stays within its bounds.
func FuzzExchangeSubject(f *testing.F) {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	hdr := enc(map[string]string{"alg": "RS256", "kid": "k1"})
	for _, c := range []struct {
		claims any
		tmpl   string
	}{
		{map[string]any{"iss": "https://k8s", "sub": "x", "kubernetes.io": map[string]any{"namespace": "ci"}}, "ns:{kubernetes.io/namespace}"},
		{map[string]any{"iss": "https://gh", "repository": "octo/app", "n": 12}, "{repository}@{n}"},
		{map[string]any{"iss": 5}, "{a~1b}"},
		{[]int{1}, "{"},
		{map[string]any{"iss": "x", "a": map[string]any{"b": "\x00"}}, "{a/b}"},
	} {
		f.Add(hdr+"."+enc(c.claims)+".c2ln", c.tmpl)
	}
	f.Fuzz(func(t *testing.T, token, tmpl string) {
		jws, iss, err := peekIssuer(token)
		if err != nil {
			return
		}
		if iss == "" || len(jws.Signatures) != 1 {
			t.Fatalf("peekIssuer accepted %q", token)
		}
		var claims map[string]any
		if json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims) != nil || config.CheckClaimTemplate(tmpl) != "" {
			return
		}
		s, err := expandSubject(tmpl, claims)
		if err == nil && (s == "" || len(s) > maxMappedSubject || strings.ContainsAny(s, "\x00\n\r")) {
			t.Fatalf("subject %q", s)
		}
	})
}

func TestClaimString(t *testing.T) {
	claims := map[string]any{"a/b": "slash", "k.io": map[string]any{"ns": "ci", "n": json.Number("3")}, "l": []any{"x"}}
	for path, want := range map[string]string{"a~1b": "slash", "k.io/ns": "ci", "k.io/n": "3", "l": "", "k.io": "", "zz": ""} {
		if got, _ := claimString(claims, path); got != want {
			t.Errorf("claimString(%q) = %q, want %q", path, got, want)
		}
	}
	for want, pattern := range map[bool]string{true: "build-*", false: "build"} {
		if claimValueMatches(pattern, "build-7") != want {
			t.Errorf("claimValueMatches(%q, build-7) != %v", pattern, want)
		}
	}
}
