package broker_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// replicaSet is two `portico serve` processes on one PostgreSQL schema,
// behind (as far as tokens are concerned) one issuer: A's address.
type replicaSet struct {
	bin, cfgA, cfgB string
	A, B            *testenv.Broker
	procA, procB    *portico
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startReplicas(t *testing.T) *replicaSet {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	schema := testenv.PostgresSchema(t)
	hash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	shared := t.TempDir() // the sealing key file every replica shares
	write := func(listen string) string {
		path := filepath.Join(t.TempDir(), "portico.yaml")
		os.WriteFile(path, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[2]s
storage: {type: postgres, dsn: "%[3]s", schema: %[4]s, dir: %[5]s}
connectors: [{id: local, type: local}]
clients:
  - {id: %[6]s, secret: %[7]s, redirect_uris: ["%[8]s"], grant_types: [authorization_code, refresh_token, client_credentials], scopes: [api]}
  - {id: %[9]s, secret: %[10]s, grant_types: [client_credentials], scopes: [admin], admin: true}
users:
  - {username: %[11]s, email: %[12]s, password_hash: "%[13]s"}
tokens: {signing_alg: ES256}
log: {level: warn}
`, addrA, listen, testenv.PostgresDSN(), schema, shared, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI,
			adminClientID, adminClientSecret, testenv.UserName, testenv.UserEmail, hash), 0o600)
		return path
	}
	r := &replicaSet{bin: buildPortico(t), cfgA: write(addrA), cfgB: write(addrB)}
	r.procA = startPortico(t, r.bin, r.cfgA, "http://"+addrA)
	r.procB = startPortico(t, r.bin, r.cfgB, "http://"+addrB)
	r.A, r.B = &testenv.Broker{URL: "http://" + addrA}, &testenv.Broker{URL: "http://" + addrB}
	return r
}

// within polls cond until it holds or d passes.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// TestReplicas is acceptance 2 of scale-out: log in on A, refresh on B,
// revoke on B → introspection on A says inactive within 1 s; rotate keys on
// A → tokens from B verify via A's JWKS; delete a client on B → A refuses it
// within 1 s.
func TestReplicas(t *testing.T) {
	r := startReplicas(t)
	ctx := t.Context()
	rp, err := testenv.NewRP(ctx, r.A.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	fresh := refresh(t, r.B, tok.RefreshToken)
	if fresh.Status != 200 {
		t.Fatalf("refresh on B of A's token: %d %v", fresh.Status, fresh.Body)
	}
	access := fresh.str("access_token")
	if !active(t, r.A, access) {
		t.Fatal("A does not know B's fresh access token")
	}
	revoke(t, r.B, fresh.str("refresh_token"), "refresh_token")
	if !within(time.Second, func() bool { return !active(t, r.A, access) }) {
		t.Error("A still says active 1 s after B revoked the session")
	}

	// Keys: A rotates; B's tokens verify with A's published keys, and B
	// signs with A's new key once it has synced.
	admin := ccToken(t, r.A, adminClientID, adminClientSecret, "admin")
	rot := call(t, r.A, admin, "POST", "/keys/rotate", nil)
	mustStatus(t, rot, 200, "rotate on A")
	var newKid string
	for _, k := range rot.Body["keys"].([]any) {
		if m := k.(map[string]any); m["state"] == "active" && m["alg"] == "ES256" {
			newKid = m["id"].(string)
		}
	}
	verifies := func() (string, bool) {
		raw := ccToken(t, r.B, testenv.ClientID, testenv.ClientSecret, "api")
		var jwks jose.JSONWebKeySet
		getJSONDoc(t, r.A.URL+"/keys", &jwks)
		jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatal(err)
		}
		kid := jws.Signatures[0].Header.KeyID
		keys := jwks.Key(kid)
		if len(keys) == 0 {
			return kid, false
		}
		_, err = jws.Verify(keys[0])
		return kid, err == nil
	}
	if kid, ok := verifies(); !ok {
		t.Errorf("B's token (kid %s) does not verify with A's JWKS right after the rotation", kid)
	}
	if !within(3*time.Second, func() bool { kid, ok := verifies(); return ok && kid == newKid }) {
		t.Errorf("B did not take up A's new signing key %s", newKid)
	}

	// Clients: created on A, deleted on B, refused by A.
	created := call(t, r.A, admin, "POST", "/clients", map[string]any{"id": "svc", "grant_types": []string{"client_credentials"}, "scopes": []string{"api"}})
	mustStatus(t, created, 201, "create client on A")
	secret := created.Body["client_secret"].(string)
	ccToken(t, r.A, "svc", secret, "api")
	adminB := ccToken(t, r.B, adminClientID, adminClientSecret, "admin")
	mustStatus(t, call(t, r.B, adminB, "DELETE", "/clients/svc", nil), 204, "delete client on B")
	if !within(time.Second, func() bool {
		return postToken(t, r.A.URL, "svc", secret, url.Values{"grant_type": {"client_credentials"}}).Status == 401
	}) {
		t.Error("A still accepts a client B deleted, 1 s later")
	}

	// Connectors: added through B, on A's login page within a second.
	mustStatus(t, call(t, r.B, adminB, "POST", "/connectors", map[string]any{"id": "extra", "type": "local", "name": "Extra login"}), 201, "add connector on B")
	loginPage := func() string {
		resp, err := rp.Browser.Get(rp.NewFlow().AuthURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return string(page)
	}
	if !within(time.Second, func() bool { return strings.Contains(loginPage(), "Extra login") }) {
		t.Error("a connector added on B is not on A's login page 1 s later")
	}
}

// TestReplicaKill is acceptance 3 of scale-out: kill A hard while a load
// runs against A and B; no token reported issued is lost, no refresh token
// is usable twice, and B keeps serving.
func TestReplicaKill(t *testing.T) {
	r := startReplicas(t)
	ctx := t.Context()
	rp, err := testenv.NewRP(ctx, r.A.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	type chain struct {
		last      string   // the refresh token to present next
		used      []string // refresh tokens rotated away
		uncertain bool     // a request died with A: its outcome is unknown
	}
	const chains = 6
	cs := make([]*chain, chains)
	for i := range cs {
		tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = &chain{last: tok.RefreshToken}
	}
	var mu sync.Mutex
	var issued []string // access tokens whose issue was answered 200
	stop := make(chan struct{})
	var wg sync.WaitGroup
	// A connection per request: after the kill a request to A is refused
	// (it never reached A), unlike one written to a pooled connection.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(base string, form url.Values, id, secret string) (int, map[string]any, error) {
		req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := fresh.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return resp.StatusCode, nil, err // cut mid-answer
		}
		return resp.StatusCode, body, nil
	}
	for i, c := range cs {
		wg.Go(func() {
			aDown := false
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// Even chains alternate between A and B; odd ones stay on
				// B, so some chains are sure to be whole after the kill.
				base := []string{r.A.URL, r.B.URL}[(i+n)%2]
				if aDown || i%2 == 1 {
					base = r.B.URL
				}
				st, body, err := post(base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.last}}, testenv.ClientID, testenv.ClientSecret)
				if err != nil && strings.Contains(err.Error(), "connection refused") {
					aDown = true // never reached A: present the same token to B
					continue
				}
				if err != nil || st >= 500 {
					c.uncertain = true // cut in flight: perhaps rotated, perhaps not; never present it again
					return
				}
				if st != 200 {
					t.Errorf("chain %d: refresh answered %d %v", i, st, body)
					return
				}
				mu.Lock()
				issued = append(issued, body["access_token"].(string))
				mu.Unlock()
				c.used, c.last = append(c.used, c.last), body["refresh_token"].(string)
			}
		})
	}
	for i := range 2 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				base := []string{r.A.URL, r.B.URL}[(i+n)%2]
				st, body, err := post(base, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, testenv.ClientID, testenv.ClientSecret)
				if err == nil && st == 200 {
					mu.Lock()
					issued = append(issued, body["access_token"].(string))
					mu.Unlock()
				}
			}
		})
	}
	// Kill A once the load runs, and stop once B has served more after
	// the kill: counted, not timed, so a slow machine waits longer instead
	// of killing A before any load reached it. The bounds are liveness only.
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(issued) }
	if !within(2*time.Minute, func() bool { return count() >= 10 }) {
		t.Errorf("only %d tokens issued under load before the kill", count())
	}
	r.procA.kill()
	atKill := count()
	if !within(2*time.Minute, func() bool { return count() >= atKill+10 }) {
		t.Errorf("only %d tokens issued after the kill", count()-atKill)
	}
	close(stop)
	wg.Wait()

	// B keeps serving.
	ccToken(t, r.B, testenv.ClientID, testenv.ClientSecret, "api")
	mu.Lock()
	defer mu.Unlock()
	if len(issued) < 20 {
		t.Fatalf("only %d tokens issued under load: the load did not run", len(issued))
	}
	lost := 0
	for _, tok := range issued {
		if !active(t, r.B, tok) {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d access tokens reported issued are not active at B", lost, len(issued))
	}
	for i, c := range cs {
		if !c.uncertain {
			if r := refresh(t, r.B, c.last); r.Status != 200 {
				t.Errorf("chain %d: its live refresh token was lost: %d %v", i, r.Status, r.Body)
			} else {
				c.used = append(c.used, c.last)
			}
		}
		for _, old := range c.used[max(0, len(c.used)-3):] {
			if r := refresh(t, r.B, old); r.Status == 200 {
				t.Errorf("chain %d: a refresh token was usable twice", i)
			}
		}
	}
	t.Logf("%d tokens issued under load; %d chains cut by the kill", len(issued), func() (n int) {
		for _, c := range cs {
			if c.uncertain {
				n++
			}
		}
		return n
	}())
}
