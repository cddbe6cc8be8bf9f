package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// clientThrottleConfig slows client authentication after three failures,
// for an hour: long enough that no test machine is slow enough to see the
// delay end.
func clientThrottleConfig(t *testing.T) *config.Config {
	cfg := regConfig(t)
	cfg.Clients = append(cfg.Clients, config.Client{ID: "other-app", Secret: "other-app-secret", GrantTypes: []string{"client_credentials"}})
	cfg.Login.Throttle.Clients = config.ClientThrottle{FreeFailures: 3, BaseDelay: config.Duration(time.Hour), MaxDelay: config.Duration(time.Hour)}
	return cfg
}

// tokenAuth posts a client_credentials request as id with secret.
func tokenAuth(t *testing.T, issuer, id, secret string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return send(t, req)
}

// send does req and returns the answer's status and header.
func send(t *testing.T, req *http.Request) (int, http.Header) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func mustThrottled(t *testing.T, what string, st int, h http.Header) {
	t.Helper()
	if st != http.StatusTooManyRequests {
		t.Errorf("%s: %d, want 429", what, st)
		return
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q", what, h.Get("Retry-After"))
	}
}

// TestClientSecretGuessing: failed client authentication is slowed per
// client id (known or not) and per address, at every endpoint that
// authenticates clients, with 429 and Retry-After — the right secret
// included, or the guessing would go on.
func TestClientSecretGuessing(t *testing.T) {
	b := testenv.Start(t, clientThrottleConfig(t))
	for i := range 4 {
		if st, _ := tokenAuth(t, b.URL, testenv.ClientID, fmt.Sprintf("wrong-%d", i)); st != 401 {
			t.Fatalf("wrong secret %d: %d, want 401", i, st)
		}
	}
	st, h := tokenAuth(t, b.URL, testenv.ClientID, testenv.ClientSecret)
	mustThrottled(t, "token with the right secret after four failures", st, h)
	for _, ep := range []string{"/introspect", "/revoke"} {
		req, _ := http.NewRequest(http.MethodPost, b.URL+ep, strings.NewReader("token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
		st, h := send(t, req)
		mustThrottled(t, ep, st, h)
	}
	// An unknown client id follows the same schedule.
	for i := range 4 {
		if st, _ := tokenAuth(t, b.URL, "no-such-client", "guess"); st != 401 {
			t.Fatalf("unknown client %d: %d, want 401", i, st)
		}
	}
	st, h = tokenAuth(t, b.URL, "no-such-client", "guess")
	mustThrottled(t, "unknown client after four failures", st, h)

	// Registration management: wrong registration access tokens.
	r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, confidentialMetadata())
	id, _ := r.Body["client_id"].(string)
	regToken, _ := r.Body["registration_access_token"].(string)
	if r.Status != 201 || id == "" {
		t.Fatalf("register: %d %v", r.Status, r.Body)
	}
	regGet := func(token string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodGet, b.URL+"/register/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		return send(t, req)
	}
	for i := range 4 {
		if st, _ := regGet(fmt.Sprintf("guess-%d", i)); st != 401 {
			t.Fatalf("registration token guess %d: %d", i, st)
		}
	}
	st, h = regGet(regToken)
	mustThrottled(t, "registration read after four wrong tokens", st, h)

	// The address: ten times the client's allowance, across client ids,
	// then even another client's right secret waits. 12 failures so far.
	for i := range 30 {
		tokenAuth(t, b.URL, fmt.Sprintf("spray-%d", i), "guess")
	}
	st, h = tokenAuth(t, b.URL, "other-app", "other-app-secret")
	mustThrottled(t, "another client from the spraying address", st, h)
	// Registration with an initial access token counts per address too.
	if r := regDo(t, http.MethodPost, b.URL+"/register", initialToken, confidentialMetadata()); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("registration from the spraying address: %d %v, want 429 with Retry-After", r.Status, r.Body)
	}
}

// TestClientThrottleAddresses: failures are counted per client id from
// one address, so that a stranger naming a client cannot keep it out.
func TestClientThrottleAddresses(t *testing.T) {
	cfg := clientThrottleConfig(t)
	cfg.Ops.TrustedProxies = []string{"127.0.0.1"} // the test plays the load balancer
	b := testenv.Start(t, cfg)
	from := func(addr, secret string) (int, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, b.URL+"/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", addr)
		req.SetBasicAuth(testenv.ClientID, secret)
		return send(t, req)
	}
	for i := range 4 {
		if st, _ := from("198.51.100.7", fmt.Sprintf("wrong-%d", i)); st != 401 {
			t.Fatalf("wrong secret %d: %d", i, st)
		}
	}
	st, h := from("198.51.100.7", testenv.ClientSecret)
	mustThrottled(t, "the guessing address", st, h)
	if st, _ := from("203.0.113.9", testenv.ClientSecret); st != 200 {
		t.Errorf("the client from its own address while another guesses: %d, want 200", st)
	}
}

// TestClientThrottleReplicas: the failures are in the store, so a client
// guessed at on one replica is slowed on the other: at once if the other
// has not just seen the client without failures, otherwise once what it
// saw is a second old (the throttle's clean memory, issue 24); a failure
// of its own it sees at once (throttle.TestCleanMemory).
func TestClientThrottleReplicas(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	clock := testenv.NewClock()
	cfg := clientThrottleConfig(t)
	cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema}
	a := testenv.StartClock(t, cfg, clock)
	cfg2 := clientThrottleConfig(t)
	cfg2.Storage = cfg.Storage
	b := testenv.StartClock(t, cfg2, clock)
	if st, _ := tokenAuth(t, b.URL, testenv.ClientID, testenv.ClientSecret); st != 200 {
		t.Fatalf("replica B before: %d", st)
	}
	// A client id PostgreSQL cannot hold is an unknown client, not a
	// store failure.
	for _, id := range []string{"a\x00b", "\xff\xfe"} {
		if st, _ := tokenAuth(t, b.URL, id, "x"); st != 401 {
			t.Errorf("client id %q: %d, want 401", id, st)
		}
	}
	for i := range 4 {
		if st, _ := tokenAuth(t, a.URL, testenv.ClientID, fmt.Sprintf("wrong-%d", i)); st != 401 {
			t.Fatalf("wrong secret %d on A: %d", i, st)
		}
	}
	// B found the client clean a moment ago and trusts that for a second.
	if st, _ := tokenAuth(t, b.URL, testenv.ClientID, testenv.ClientSecret); st != 200 {
		t.Fatalf("replica B within a second of finding the client clean: %d, want 200", st)
	}
	clock.Advance(time.Second)
	st, h := tokenAuth(t, b.URL, testenv.ClientID, testenv.ClientSecret)
	mustThrottled(t, "replica B a second after failures on A", st, h)
}

// TestThrottleByAccount: the login throttle counts an account, not the
// name typed: a lock earned as "alice" holds for her email address in any
// case; an unknown name is locked on the same schedule, by itself.
func TestThrottleByAccount(t *testing.T) {
	cfg := testenv.Config(t)
	cfg.Login.Throttle = config.Throttle{FreeFailures: 3, LockAfter: 3, LockFor: config.Duration(time.Hour)}
	b := testenv.Start(t, cfg)
	try := func(user, pass string) int {
		br, form := loginForm(t, b)
		return submit(t, br, form, map[string]string{"username": user, "password": pass}).Status
	}
	for _, c := range []struct{ locked, other string }{
		{testenv.UserName, testenv.UserEmail},
		{"ghost", "ghost@example.com"},
	} {
		var got []int
		for range 3 {
			got = append(got, try(c.locked, "wrong-password"))
		}
		got = append(got, try(c.locked, testenv.UserPassword))
		if want := []int{401, 401, 401, 429}; !slicesEqual(got, want) {
			t.Errorf("%s: %v, want %v", c.locked, got, want)
		}
		if c.locked == testenv.UserName {
			for _, name := range []string{testenv.UserEmail, strings.ToUpper(testenv.UserEmail), " " + testenv.UserName + " "} {
				if st := try(name, testenv.UserPassword); st != 429 {
					t.Errorf("%q after alice's lock: %d, want 429", name, st)
				}
			}
		} else if st := try(c.other, "wrong-password"); st != 401 {
			// Another unknown name has its own budget, as another account
			// would.
			t.Errorf("%q after %q's lock: %d, want 401", c.other, c.locked, st)
		}
	}
}

// TestClientThrottleStoreRefusesWrites: while the store reads but refuses
// writes (a full disk: here PostgreSQL refusing the throttle's records
// with disk_full), failed client authentications still throttle, from
// this process's memory; before, every guess was answered 401 and the
// right one 200 (found by a black-box attack).
func TestClientThrottleStoreRefusesWrites(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	cfg := clientThrottleConfig(t)
	cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema}
	b := testenv.Start(t, cfg)
	refuseWrites(t, schema, "records", "disk_full")
	for i := range 4 {
		if st, _ := tokenAuth(t, b.URL, testenv.ClientID, fmt.Sprintf("wrong-%d", i)); st != 401 {
			t.Fatalf("wrong secret %d: %d, want 401", i, st)
		}
	}
	st, h := tokenAuth(t, b.URL, testenv.ClientID, testenv.ClientSecret)
	mustThrottled(t, "the right secret after four unrecorded failures", st, h)
}

// refuseWrites makes PostgreSQL refuse every insert into and update of
// table in schema with the error condition code (a trigger).
func refuseWrites(t *testing.T, schema, table, code string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testenv.PostgresDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tab := pgx.Identifier{schema, table}.Sanitize()
	fn := pgx.Identifier{schema, "refuse_writes_" + table}.Sanitize()
	for _, q := range []string{
		`CREATE FUNCTION ` + fn + `() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'writes refused' USING ERRCODE = '` + code + `'; END $$`,
		`CREATE TRIGGER refuse_writes BEFORE INSERT OR UPDATE ON ` + tab + ` FOR EACH ROW EXECUTE FUNCTION ` + fn + `()`,
	} {
		if _, err := conn.Exec(t.Context(), q); err != nil {
			t.Fatal(err)
		}
	}
}
