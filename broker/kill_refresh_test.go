package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portico-idp/portico/testenv"
)

// TestRefreshStormSurvivesKill: SIGKILL in the middle of a refresh storm,
// on each store, loses no rotation whose answer a client got, and lets no
// rotated-away refresh token work again. Half the chains stop before the
// kill (their last answer is then known to be final); the other half are
// still refreshing when it comes, so commits of the killed process are in
// flight beside the acknowledged ones.
func TestRefreshStormSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	for _, st := range []string{"badger", "postgres"} {
		t.Run(st, func(t *testing.T) {
			storage := fmt.Sprintf("{type: badger, dir: %s}", t.TempDir())
			if st == "postgres" {
				storage = fmt.Sprintf("{type: postgres, dsn: %q, schema: %s}", testenv.PostgresDSN(), testenv.PostgresSchema(t))
			}
			refreshStormKill(t, storage)
		})
	}
}

// chain is one session's refresh tokens, oldest first; the last is the
// one the latest 200 answered with.
type chain struct {
	tokens []string
	stop   bool // stops before the kill
}

func refreshStormKill(t *testing.T, storage string) {
	ctx := context.Background()
	bin := buildPortico(t)
	addr := freeAddr(t)
	cfgPath := serveConfig(t, addr, storage, "login: {throttle: {token_rate: 100000}}")
	p := startPortico(t, bin, cfgPath, "http://"+addr)
	b := &testenv.Broker{URL: p.url}
	rp, err := testenv.NewRP(ctx, p.url, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	const chains = 8
	cs := make([]*chain, chains)
	for i := range cs {
		tok, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = &chain{tokens: []string{tok.RefreshToken}, stop: i < chains/2}
	}
	hc := &http.Client{Timeout: time.Minute}
	var (
		wg       sync.WaitGroup
		rotated  atomic.Int64
		stopped  sync.WaitGroup
		failures = make([]string, chains)
	)
	const perStopper = 15
	for i, c := range cs {
		wg.Add(1)
		if c.stop {
			stopped.Add(1)
		}
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				if c.stop && n == perStopper {
					stopped.Done()
					return
				}
				rt, status, err := refreshOnce(hc, p.url, c.tokens[len(c.tokens)-1])
				switch {
				case err != nil || status != http.StatusOK:
					// The kill: a storm chain stops at its first failure.
					if c.stop {
						failures[i] = fmt.Sprintf("refresh %d: %d %v", n, status, err)
						stopped.Done()
					}
					return
				}
				c.tokens = append(c.tokens, rt)
				rotated.Add(1)
			}
		}()
	}
	stopped.Wait()
	p.kill() // the storm chains are mid-request
	wg.Wait()
	for i, f := range failures {
		if f != "" {
			t.Fatalf("chain %d failed before the kill: %s", i, f)
		}
	}
	t.Logf("%d rotations answered before the kill", rotated.Load())

	startPortico(t, bin, cfgPath, "http://"+addr)
	for i, c := range cs {
		last := c.tokens[len(c.tokens)-1]
		for j, old := range c.tokens[:len(c.tokens)-1] {
			if active(t, b, old) {
				t.Errorf("chain %d: refresh token %d of %d, rotated away before the kill, is active after it", i, j, len(c.tokens))
			}
		}
		if c.stop {
			// Its last answer came before the kill and nothing followed:
			// that rotation must have survived.
			if !active(t, b, last) {
				t.Errorf("chain %d: the refresh token of its last answered rotation was lost by the kill", i)
			} else if r := refresh(t, b, last); r.Status != http.StatusOK {
				t.Errorf("chain %d: refreshing after the restart: %d %v", i, r.Status, r.Body)
			}
		}
	}
}

// refreshOnce redeems rt without failing the test: the storm runs in
// goroutines, and the kill makes requests fail.
func refreshOnce(hc *http.Client, issuer, rt string) (string, int, error) {
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token",
		strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
	resp, err := hc.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var body struct {
		RefreshToken string `json:"refresh_token"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	return body.RefreshToken, resp.StatusCode, nil
}
