package broker_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/audit"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// The passkey endpoints over plain HTTP, with an authenticator in Go
// (softKey): what a browser would never send. A challenge answers once and
// only the request it was begun for, only in the browser that began it; a
// sign count that does not increase is refused and audited.

// softKey is a software WebAuthn authenticator: an ES256 key, attestation
// "none", and a sign count the test sets.
type softKey struct {
	origin, rpID string
	id           []byte
	key          *ecdsa.PrivateKey
	user         []byte // the user handle it registered with
	count        uint32
}

func newSoftKey(t *testing.T, issuer string) *softKey {
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &softKey{origin: u.Scheme + "://" + u.Host, rpID: u.Hostname(), id: id, key: k}
}

// Just enough CBOR (RFC 8949) for an attestation object and a COSE key.
func cborHead(major byte, n int) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n < 256:
		return []byte{major<<5 | 24, byte(n)}
	default:
		return []byte{major<<5 | 25, byte(n >> 8), byte(n)}
	}
}

func cborInt(i int) []byte {
	if i < 0 {
		return cborHead(1, -1-i)
	}
	return cborHead(0, i)
}

func cborBytes(b []byte) []byte { return append(cborHead(2, len(b)), b...) }
func cborText(s string) []byte  { return append(cborHead(3, len(s)), s...) }

func cborMap(kv ...[]byte) []byte {
	out := cborHead(5, len(kv)/2)
	for _, x := range kv {
		out = append(out, x...)
	}
	return out
}

var pkB64 = base64.RawURLEncoding

// options reads a begin endpoint's answer.
type pkOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		User struct {
			ID string `json:"id"`
		} `json:"user"`
		AllowCredentials []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
	} `json:"publicKey"`
}

func (k *softKey) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return cd
}

func (k *softKey) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.count)
	return append(out, attested...)
}

// create answers registration options as navigator.credentials.create.
func (k *softKey) create(t *testing.T, o pkOptions) string {
	t.Helper()
	user, err := pkB64.DecodeString(o.PublicKey.User.ID)
	if err != nil || o.PublicKey.RP.ID != k.rpID {
		t.Fatalf("registration options: user %q (%v), rp %q", o.PublicKey.User.ID, err, o.PublicKey.RP.ID)
	}
	k.user = user
	pub, err := k.key.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	cose := cborMap(cborInt(1), cborInt(2), cborInt(3), cborInt(-7), cborInt(-1), cborInt(1),
		cborInt(-2), cborBytes(pub[1:33]), cborInt(-3), cborBytes(pub[33:]))
	attested := make([]byte, 16) // AAGUID: none
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	ad := k.authData(0x45, attested) // UP, UV, AT
	obj := cborMap(cborText("fmt"), cborText("none"), cborText("attStmt"), cborMap(), cborText("authData"), cborBytes(ad))
	cred, _ := json.Marshal(map[string]any{
		"id": pkB64.EncodeToString(k.id), "rawId": pkB64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    pkB64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": pkB64.EncodeToString(obj), "transports": []string{"usb"},
		},
	})
	return string(cred)
}

// get answers login options as navigator.credentials.get, with the sign
// count it is at plus one.
func (k *softKey) get(t *testing.T, o pkOptions) string {
	t.Helper()
	k.count++
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	ad := k.authData(0x05, nil) // UP, UV
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte(nil), ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := json.Marshal(map[string]any{
		"id": pkB64.EncodeToString(k.id), "rawId": pkB64.EncodeToString(k.id), "type": "public-key",
		"clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": pkB64.EncodeToString(cd), "authenticatorData": pkB64.EncodeToString(ad),
			"signature": pkB64.EncodeToString(sig), "userHandle": pkB64.EncodeToString(k.user),
		},
	})
	return string(cred)
}

// pkClient is one browser, without JavaScript, at the broker.
type pkClient struct {
	t      *testing.T
	ctx    context.Context
	issuer string
	c      *http.Client
}

func newPKClient(t *testing.T, issuer string) *pkClient {
	return &pkClient{t: t, ctx: t.Context(), issuer: issuer, c: testenv.NewBrowser(testenv.RedirectURI)}
}

// post posts form to path and returns the status, the body and the final
// URL (the redirect URI when the login came back).
func (p *pkClient) post(path string, form url.Values) (int, string, *url.URL) {
	p.t.Helper()
	req, _ := http.NewRequestWithContext(p.ctx, http.MethodPost, p.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, testenv.RedirectURI) {
		u, _ := url.Parse(loc)
		return resp.StatusCode, string(body), u
	}
	return resp.StatusCode, string(body), resp.Request.URL
}

// login logs in with the password up to the second-factor page and
// returns the login's request id and form token.
func (p *pkClient) login(rp *testenv.RP) url.Values {
	p.t.Helper()
	f := rp.NewFlow()
	req, _ := http.NewRequestWithContext(p.ctx, http.MethodGet, f.AuthURL, nil)
	resp, err := p.c.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form, err := testenv.ParseForm(resp.Request.URL, string(page))
	if err != nil {
		p.t.Fatalf("login page: %v", err)
	}
	form.Values.Set("username", testenv.UserName)
	form.Values.Set("password", testenv.UserPassword)
	u, _ := url.Parse(form.Action)
	status, body, at := p.post(u.Path, form.Values)
	if status != http.StatusOK || at.Path != "/mfa" {
		p.t.Fatalf("after the password: %d at %s: %s", status, at, body)
	}
	return url.Values{"req": {form.Values.Get("req")}, "csrf": {form.Values.Get("csrf")}}
}

// begin calls a begin endpoint and reads its options.
func (p *pkClient) begin(path string, login url.Values) pkOptions {
	p.t.Helper()
	status, body, _ := p.post(path, login)
	var o pkOptions
	if status != http.StatusOK || json.Unmarshal([]byte(body), &o) != nil || o.PublicKey.Challenge == "" {
		p.t.Fatalf("%s: %d %s", path, status, body)
	}
	return o
}

func pkWith(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for key, vs := range v {
		out[key] = vs
	}
	out.Set(k, val)
	return out
}

// TestPasskeyHTTPCeremonies is the ceremonies' security over HTTP: each
// finish refuses a spent challenge, another request's, another browser's,
// and a sign count that went back.
func TestPasskeyHTTPCeremonies(t *testing.T) {
	b := testenv.StartLocalhost(t, passkeyConfig(t))
	ctx := t.Context()
	rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	key := newSoftKey(t, b.URL)
	p := newPKClient(t, b.URL)

	// The page of a ceremony may run the broker's script, and only that.
	a := p.login(rp)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/mfa/passkey/register", strings.NewReader(a.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `<script src="/static/webauthn.js"></script>`) ||
		!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline'; script") || strings.Contains(string(page), "<script>") {
		t.Fatalf("registration page: %d, CSP %q: %s", resp.StatusCode, csp, page)
	}
	resp, err = p.c.Get(b.URL + "/mfa?req=" + a.Get("req")) // any other page: no script
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || !strings.HasPrefix(csp, "default-src 'none'") {
		t.Errorf("the setup page's CSP %q allows script", csp)
	}
	resp, err = p.c.Get(b.URL + "/static/webauthn.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("script: %d %s", resp.StatusCode, ct)
	}

	// Enrolment; its answer cannot be posted twice.
	o := p.begin("/mfa/passkey/register/begin", a)
	cred := key.create(t, o)
	if status, body, _ := p.post("/mfa/passkey/register/finish", pkWith(a, "credential", cred)); status != http.StatusOK || !strings.Contains(body, "recovery-codes") {
		t.Fatalf("registration: %d %s", status, body)
	}
	// Replayed, it is not acted on: refused, or (the login now waits at
	// its recovery codes) sent back to them, with no second passkey.
	if status, body, at := p.post("/mfa/passkey/register/finish", pkWith(a, "credential", cred)); (status != http.StatusBadRequest || !strings.Contains(body, "expired")) && (status != http.StatusOK || at.Path != "/mfa/recovery") {
		t.Errorf("registration replayed: %d at %s: %s", status, at, body)
	}
	if string(key.user) == "" {
		t.Fatal("no user handle")
	}
	userID := string(key.user)
	var enrolled struct {
		Passkeys []json.RawMessage `json:"passkeys"`
	}
	if rec, err := b.Server.Store.GetRecord(t.Context(), "mfa", userID); err != nil || json.Unmarshal(rec.Value, &enrolled) != nil || len(enrolled.Passkeys) != 1 {
		t.Errorf("after the replay, %d passkeys (%v), want one", len(enrolled.Passkeys), err)
	}
	// Now that the user has a second factor, the password alone cannot
	// add one.
	a = p.login(rp)
	if status, body, _ := p.post("/mfa/passkey/register/begin", a); status != http.StatusForbidden {
		t.Errorf("a second enrolment with the password alone: %d %s", status, body)
	}

	// Two logins in this browser, A and B, and another browser.
	b2 := p.login(rp)
	oa := p.begin("/mfa/passkey/begin", a)
	if len(oa.PublicKey.AllowCredentials) != 1 || oa.PublicKey.AllowCredentials[0].ID != pkB64.EncodeToString(key.id) {
		t.Errorf("allowCredentials %+v, want the passkey", oa.PublicKey.AllowCredentials)
	}
	answerA := key.get(t, oa)
	// A's answer posted to B, which began nothing, then began its own.
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(b2, "credential", answerA)); status != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("A's answer at B before B began: %d %s", status, body)
	}
	p.begin("/mfa/passkey/begin", b2)
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(b2, "credential", answerA)); status != http.StatusUnauthorized {
		t.Errorf("A's answer to B's challenge: %d %s", status, body)
	}
	// A's answer from another browser, with A's form token.
	other := newPKClient(t, b.URL)
	if status, body, _ := other.post("/mfa/passkey/finish", pkWith(a, "credential", answerA)); status != http.StatusBadRequest || !strings.Contains(body, "another browser") {
		t.Errorf("A's answer from another browser: %d %s", status, body)
	}
	if status, body, _ := other.post("/mfa/passkey/begin", a); status != http.StatusBadRequest || !strings.Contains(body, "other_browser") {
		t.Errorf("begin from another browser: %d %s", status, body)
	}
	// A's challenge is still A's: its answer logs in, once.
	status, body, at := p.post("/mfa/passkey/finish", pkWith(a, "credential", answerA))
	if status != http.StatusSeeOther || at.Query().Get("code") == "" {
		t.Fatalf("A's answer at A: %d at %s: %s", status, at, body)
	}
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(a, "credential", answerA)); status != http.StatusBadRequest {
		t.Errorf("A's answer again: %d %s", status, body)
	}

	// A wrong answer spends the challenge: the right one after it fails.
	c := p.login(rp)
	oc := p.begin("/mfa/passkey/begin", c)
	bad := strings.Replace(key.get(t, oc), `"signature":"`, `"signature":"AAAA`, 1)
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(c, "credential", bad)); status != http.StatusUnauthorized {
		t.Errorf("a forged signature: %d %s", status, body)
	}
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(c, "credential", key.get(t, oc))); status != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Errorf("an answer after a wrong one: %d %s", status, body)
	}

	// A sign count that went back: refused, audited, the count stays.
	rec, err := b.Server.Store.GetRecord(ctx, "mfa", userID)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Passkeys []struct {
			SignCount    uint32 `json:"sign_count"`
			CloneWarning bool   `json:"clone_warning"`
		} `json:"passkeys"`
	}
	if err := json.Unmarshal(rec.Value, &m); err != nil || len(m.Passkeys) != 1 || m.Passkeys[0].SignCount != 1 {
		t.Fatalf("stored passkeys %+v (%v), want one at sign count 1", m.Passkeys, err)
	}
	oc = p.begin("/mfa/passkey/begin", c)
	key.count = 0 // the next answer says 1 again, as a copy of the key would
	if status, body, _ := p.post("/mfa/passkey/finish", pkWith(c, "credential", key.get(t, oc))); status != http.StatusUnauthorized || !strings.Contains(body, "copied") {
		t.Errorf("a sign count that did not increase: %d %s", status, body)
	}
	waitAudit(t, b.Server.Store, "sign count regression", func(e store.AuditEvent) bool {
		return e.Type == audit.PasskeySignCount && e.UserID == userID && e.Details["stored"] == "1" && e.Details["received"] == "1"
	})
	rec, _ = b.Server.Store.GetRecord(ctx, "mfa", userID)
	if err := json.Unmarshal(rec.Value, &m); err != nil || m.Passkeys[0].SignCount != 1 || !m.Passkeys[0].CloneWarning {
		t.Errorf("after the regression: %+v (%v), want sign count 1 and the clone warning", m.Passkeys, err)
	}

	// Passwordless: the same key, discoverable, names its user.
	d := p.login(rp) // a request of this browser, first factor or not
	od := p.begin("/passkey/login/begin", d)
	if len(od.PublicKey.AllowCredentials) != 0 || od.PublicKey.RPID != "localhost" {
		t.Errorf("passwordless options %+v: want no allowCredentials, rpId localhost", od.PublicKey)
	}
	key.count = 5
	// Another user's handle on this key's signature: refused.
	mine := key.user
	key.user = []byte("someone-else")
	if status, body, _ := p.post("/passkey/login/finish", pkWith(d, "credential", key.get(t, od))); status != http.StatusUnauthorized {
		t.Errorf("a foreign user handle: %d %s", status, body)
	}
	key.user = mine
	od = p.begin("/passkey/login/begin", d)
	status, body, at = p.post("/passkey/login/finish", pkWith(d, "credential", key.get(t, od)))
	if status != http.StatusSeeOther || at.Query().Get("code") == "" {
		t.Fatalf("passwordless: %d at %s: %s", status, at, body)
	}
}

// TestPasskeyAccountHTTP: from the account page, a user without a second
// factor enrols a passkey and is shown recovery codes; the same session,
// which did not use a second factor, can then add no other.
func TestPasskeyAccountHTTP(t *testing.T) {
	b := testenv.StartLocalhost(t, passkeyConfig(t))
	p := newPKClient(t, b.URL)
	p.c = testenv.NewSSOBrowser(testenv.RedirectURI) // the account page needs the session
	key := newSoftKey(t, b.URL)

	resp, err := p.c.Get(b.URL + "/account")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form, err := testenv.ParseForm(resp.Request.URL, string(page))
	if err != nil {
		t.Fatal(err)
	}
	form.Values.Set("username", testenv.UserName)
	form.Values.Set("password", testenv.UserPassword)
	u, _ := url.Parse(form.Action)
	status, body, at := p.post(u.Path, form.Values)
	if status != http.StatusOK || at.Path != "/account" {
		t.Fatalf("account login: %d at %s", status, at)
	}
	acct, err := testenv.ParseForm(at, body)
	if err != nil || !strings.HasSuffix(acct.Action, "/account/passkeys") {
		t.Fatalf("no passkey form on the account page (%v): %s", err, body)
	}
	csrf := url.Values{"csrf": {acct.Values.Get("csrf")}}
	if status, body, _ := p.post("/account/passkeys/begin", url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("begin with a forged form token: %d %s", status, body)
	}
	o := p.begin("/account/passkeys/begin", csrf)
	status, body, _ = p.post("/account/passkeys/finish", pkWith(csrf, "credential", key.create(t, o)))
	if status != http.StatusOK || !strings.Contains(body, "recovery-codes") {
		t.Fatalf("first passkey from the account page: %d %s", status, body)
	}
	status, body, at = p.post("/account/passkeys/done", csrf)
	if status != http.StatusOK || at.Query().Get("done") != "passkey" || !strings.Contains(body, "The passkey was added.") {
		t.Errorf("back at the account page: %d at %s", status, at)
	}
	// The session's login had no second factor; the user has one now.
	if status, body, _ := p.post("/account/passkeys/begin", csrf); status != http.StatusForbidden || !strings.Contains(body, "mfa_required") {
		t.Errorf("another passkey without the second factor: %d %s", status, body)
	}
}
