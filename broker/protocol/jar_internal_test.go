package protocol

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// FuzzRequestObject: parsing an untrusted request object and turning its
// (unverified) payload into parameters never panics; what is accepted is
// a JWS with one signature by an allowed algorithm, and its parameters
// hold no JWT claim, no request or request_uri, and repeat only
// resource (or audience).
func FuzzRequestObject(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIn0.")
	f.Add("eyJhbGciOiJFUzI1NiIsInR5cCI6Im9hdXRoLWF1dGh6LXJlcStqd3QifQ.eyJpc3MiOiJhIiwicmVzb3VyY2UiOlsiaHR0cHM6Ly9hIiwiaHR0cHM6Ly9iIl0sIm1heF9hZ2UiOjMwMH0.c2ln")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		o, e := parseRequestObject(raw)
		if e != nil {
			if e.desc == "" {
				t.Fatal("refused without a description")
			}
			return
		}
		if !slices.Contains(requestObjectAlgs, jose.SignatureAlgorithm(o.alg)) || len(o.tok.Headers) != 1 {
			t.Fatalf("accepted alg %q", o.alg)
		}
		var members map[string]json.RawMessage
		if o.tok.UnsafeClaimsWithoutVerification(&members) != nil {
			return
		}
		checkObjectParams(t, members)
	})
}

// FuzzObjectParams: any JSON payload becomes parameters or an error,
// within the rules FuzzRequestObject checks.
func FuzzObjectParams(f *testing.F) {
	f.Add([]byte(`{"scope":"openid","max_age":0,"resource":["https://a","https://b"],"claims":{"id_token":{}}}`))
	f.Add([]byte(`{"state":["a","b"]}`))
	f.Add([]byte(`{"request_uri":"urn:x","iss":"a"}`))
	f.Add([]byte(`{"prompt":null,"nonce":1e400}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var members map[string]json.RawMessage
		if json.Unmarshal(payload, &members) != nil {
			return
		}
		checkObjectParams(t, members)
	})
}

func checkObjectParams(t *testing.T, members map[string]json.RawMessage) {
	t.Helper()
	q, e := objectParams(members)
	if e != nil {
		return
	}
	for name, vals := range q {
		switch {
		case slices.Contains(registeredClaims, name):
			t.Fatalf("JWT claim %s became a parameter", name)
		case name == "request" || name == "request_uri":
			t.Fatalf("%s accepted inside an object", name)
		case len(vals) != 1 && !repeatable[name]:
			t.Fatalf("%s has %d values", name, len(vals))
		}
	}
	if len(q) > maxObjectParams {
		t.Fatalf("%d parameters", len(q))
	}
}

// TestObjectParams: the members of an object become the parameters
// /authorize reads, each in its own type.
func TestObjectParams(t *testing.T) {
	members := map[string]json.RawMessage{
		"iss": []byte(`"app"`), "aud": []byte(`"https://id"`), "exp": []byte(`1`),
		"scope": []byte(`"openid email"`), "max_age": []byte(`300`), "resource": []byte(`["https://a/","https://b/"]`),
		"claims": []byte(`{"id_token":{"acr":null}}`), "x_flag": []byte(`true`),
	}
	q, e := objectParams(members)
	if e != nil {
		t.Fatal(e)
	}
	want := url.Values{"scope": {"openid email"}, "max_age": {"300"}, "resource": {"https://a/", "https://b/"},
		"claims": {`{"id_token":{"acr":null}}`}, "x_flag": {"true"}}
	if q.Encode() != want.Encode() {
		t.Errorf("got %v, want %v", q, want)
	}
	for _, bad := range []string{`{"state":["a","b"]}`, `{"scope":null}`, `{"scope":[1]}`, `{"request":"x"}`, `{"resource":[]}`,
		`{"state":123}`, `{"state":true}`, `{"state":{"a":1}}`, `{"nonce":5}`, `{"scope":["openid"]}`, `{"redirect_uri":["https://a/"]}`,
		`{"login_hint":{"a":1}}`, `{"ui_locales":7}`, `{"acr_values":["x"]}`} {
		var m map[string]json.RawMessage
		json.Unmarshal([]byte(bad), &m)
		if _, e := objectParams(m); e == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestRequestObjectType: a JWT of another type (a DPoP proof, an access
// token) is no request object; none, JWT and oauth-authz-req+jwt are.
func TestRequestObjectType(t *testing.T) {
	for typ, ok := range map[string]bool{"": true, "JWT": true, "oauth-authz-req+jwt": true, "dpop+jwt": false, "at+jwt": false} {
		h := `{"alg":"ES256"}`
		if typ != "" {
			h = `{"alg":"ES256","typ":"` + typ + `"}`
		}
		raw := base64.RawURLEncoding.EncodeToString([]byte(h)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"a"}`)) + ".c2ln"
		if _, e := parseRequestObject(raw); (e == nil) != ok {
			t.Errorf("typ %q: error %v", typ, e)
		}
	}
}
