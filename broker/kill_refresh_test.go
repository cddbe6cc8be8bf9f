package broker_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestRefreshStormSurvivesKill is acceptance 2 of issue 24 on Badger,
// whose rotations now commit in groups (store/badger/group.go): SIGKILL
// during a storm of concurrent refresh chains, restart on the same data,
// and every rotation answered 200 is still there (its new token works)
// while no token it rotated away works again.
func TestRefreshStormSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	ctx := t.Context()
	bin := buildPortico(t)
	addr := freeAddr(t)
	hash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "portico.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[1]s
storage: {type: badger, dir: %[2]s}
connectors: [{id: local, type: local}]
clients:
  - {id: %[3]s, secret: %[4]s, redirect_uris: ["%[5]s"], grant_types: [authorization_code, refresh_token]}
users:
  - {username: %[6]s, email: %[7]s, password_hash: "%[8]s"}
log: {level: warn}
`, addr, t.TempDir(), testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI, testenv.UserName, testenv.UserEmail, hash), 0o600)
	p := startPortico(t, bin, cfgPath, "http://"+addr)
	b := &testenv.Broker{URL: p.url}
	rp, err := testenv.NewRP(ctx, p.url, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}

	type chain struct {
		last      string   // the refresh token to present next
		used      []string // refresh tokens rotated away (answered 200)
		uncertain bool     // a request was cut by the kill: its outcome is unknown
	}
	const chains = 8 // concurrent rotations, so that they commit in groups
	cs := make([]*chain, chains)
	for i := range cs {
		tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = &chain{last: tok.RefreshToken}
	}
	// A connection per request, so that a request after the kill is
	// refused rather than written to a dead pooled connection.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var rotations atomic.Int64
	var quiet atomic.Bool // the odd chains stop just before the kill
	var wg, odd sync.WaitGroup
	for i, c := range cs {
		g := &wg
		if i%2 == 1 {
			g = &odd
		}
		g.Go(func() {
			for {
				if i%2 == 1 && quiet.Load() {
					return // whole: its last rotation was answered before the kill
				}
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.last}}
				req, _ := http.NewRequest(http.MethodPost, p.url+"/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
				resp, err := fresh.Do(req)
				if err != nil && strings.Contains(err.Error(), "connection refused") {
					return // never reached the server: c.last is still the live token
				}
				var body map[string]any
				if err == nil {
					err = json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode >= 500 {
					c.uncertain = true
					return
				}
				if resp.StatusCode != 200 {
					t.Errorf("chain %d: refresh answered %d %v", i, resp.StatusCode, body)
					return
				}
				c.used, c.last = append(c.used, c.last), body["refresh_token"].(string)
				rotations.Add(1)
			}
		})
	}
	// Kill once the storm has run a while: counted, not timed (a slow
	// machine waits longer); the bound is liveness only.
	if !within(2*time.Minute, func() bool { return rotations.Load() >= 200 }) {
		t.Errorf("only %d rotations before the kill", rotations.Load())
	}
	quiet.Store(true)
	odd.Wait()
	p.kill() // the even chains still storming
	wg.Wait()

	startPortico(t, bin, cfgPath, "http://"+addr)
	whole := 0
	for i, c := range cs {
		if !c.uncertain {
			whole++
			if r := refresh(t, b, c.last); r.Status != 200 {
				t.Errorf("chain %d: the token of its last answered rotation was lost: %d %v", i, r.Status, r.Body)
			}
		}
		for _, old := range c.used[max(0, len(c.used)-3):] {
			if r := refresh(t, b, old); r.Status == 200 {
				t.Errorf("chain %d: a rotated refresh token works again after SIGKILL", i)
			}
		}
	}
	t.Logf("%d rotations before the kill; %d of %d chains whole", rotations.Load(), whole, chains)
}
