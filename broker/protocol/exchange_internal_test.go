package protocol

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestExpandSubjectInjective: claim values cannot forge the template's
// separators, so two different tokens never map to one subject.
func TestExpandSubjectInjective(t *testing.T) {
	tmpl := "ext:{repo}:{sub}"
	a, err1 := expandSubject(tmpl, map[string]any{"repo": "org/a:x", "sub": "y"})
	b, err2 := expandSubject(tmpl, map[string]any{"repo": "org/a", "sub": "x:y"})
	if err1 != nil || err2 != nil || a == b {
		t.Fatalf("%q (%v) and %q (%v)", a, err1, b, err2)
	}
	for _, c := range []struct {
		tmpl   string
		claims map[string]any
		want   string
	}{
		{"system:serviceaccount:{ns}:{name}", map[string]any{"ns": "ci", "name": "deployer"}, "system:serviceaccount:ci:deployer"},
		{"ext:{repo}:{sub}", map[string]any{"repo": "org/a:x", "sub": "y"}, "ext:org/a%3Ax:y"},
		{"repo/{repo}", map[string]any{"repo": "org/a"}, "repo/org%2Fa"},
		{"{a}", map[string]any{"a": "50%"}, "50%25"},
	} {
		if got, err := expandSubject(c.tmpl, c.claims); err != nil || got != c.want {
			t.Errorf("expandSubject(%q) = %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
}

// TestExchangeTargetsCounted: the bound on audience and resource counts
// repeats too.
func TestExchangeTargetsCounted(t *testing.T) {
	form := url.Values{"subject_token": {"x"}, "subject_token_type": {TokenTypeJWT},
		"audience": strings.Split(strings.Repeat("orders,", maxExchangeTargets+1)[:len("orders,")*(maxExchangeTargets+1)-1], ",")}
	if _, terr := parseExchangeRequest(form); terr == nil || terr.code != "invalid_request" {
		t.Fatalf("%d repeats of one audience: %v", maxExchangeTargets+1, terr)
	}
	form["audience"] = form["audience"][:maxExchangeTargets]
	if r, terr := parseExchangeRequest(form); terr != nil || len(r.Targets) != 1 {
		t.Fatalf("%d repeats: %v %v", maxExchangeTargets, r.Targets, terr)
	}
}

// TestIssuerKeysUnavailableStays: while an issuer's keys cannot be
// fetched, every request in the refetch window is told to try again (not
// that the key is unknown, which a client takes as final).
func TestIssuerKeysUnavailableStays(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer srv.Close()
	r := &remoteKeys{client: srv.Client(), issuer: srv.URL, jwksURI: srv.URL + "/jwks"}
	for i := range 3 {
		if _, err := r.get(context.Background(), "kid-1"); !errors.Is(err, errIssuerUnavailable) {
			t.Fatalf("attempt %d: %v, want errIssuerUnavailable", i, err)
		}
	}
}
