package broker_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store/postgres"
	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/testenv"
)

// TestSelfServiceMailReplicas is acceptance 3 of issue #22: with the SMTP
// server down, two replicas (two `portico serve` on one PostgreSQL schema)
// each take a "Forgot password?" form; the outbox holds both messages,
// and when the server is back each is delivered once, whichever replica's
// worker claims it.
func TestSelfServiceMailReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	mp := testenv.StartMailpit(t, testenv.MailpitOptions{})
	schema := testenv.PostgresSchema(t)
	hash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	addrA, addrB := freeAddr(t), freeAddr(t)
	shared := t.TempDir()
	write := func(listen string) string {
		path := filepath.Join(t.TempDir(), "portico.yaml")
		os.WriteFile(path, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[2]s
storage: {type: postgres, dsn: "%[3]s", schema: %[4]s, dir: %[5]s}
connectors: [{id: local, type: local, config: {password_reset: true}}]
clients:
  - {id: %[6]s, secret: %[7]s, redirect_uris: ["%[8]s"]}
users:
  - {username: %[9]s, email: %[10]s, password_hash: "%[11]s"}
  - {username: bob, email: bob@example.com, password_hash: "%[11]s"}
mail:
  smtp: {host: 127.0.0.1, port: %[12]d, tls: none}
  from: id@example.com
  retry: {backoff_base: 1s, backoff_cap: 2s}
log: {level: warn}
`, addrA, listen, testenv.PostgresDSN(), schema, shared, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI,
			testenv.UserName, testenv.UserEmail, hash, mp.SMTPPort()), 0o600)
		return path
	}
	bin := buildPortico(t)
	startPortico(t, bin, write(addrA), "http://"+addrA)
	startPortico(t, bin, write(addrB), "http://"+addrB)
	a, b := &testenv.Broker{URL: "http://" + addrA}, &testenv.Broker{URL: "http://" + addrB}

	mp.Stop()
	for _, f := range []struct {
		b     *testenv.Broker
		login string
	}{{a, testenv.UserEmail}, {b, "bob"}} {
		if p := forgot(t, f.b, anon(), f.login); p.Status != http.StatusOK {
			t.Fatalf("forgot at %s: %d", f.b.URL, p.Status)
		}
	}
	st, err := postgres.Open(t.Context(), postgres.Options{DSN: testenv.PostgresDSN(), Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queued := func() int {
		recs, err := st.ListRecords(t.Context(), "mail-outbox", "")
		if err != nil {
			t.Fatal(err)
		}
		return len(recs)
	}
	// The forms' work runs after their answers: wait for both messages
	// to be queued, while nothing can be delivered.
	if !within(30*time.Second, func() bool { return queued() == 2 }) {
		t.Fatalf("%d messages queued while the server is down, want 2", queued())
	}
	mp.Start()
	if !within(60*time.Second, func() bool { return queued() == 0 }) {
		t.Fatalf("%d messages still queued after the server came back", queued())
	}
	msgs := mp.WaitMessages(t, 2)
	to := map[string]int{}
	for _, m := range msgs {
		for _, r := range m.To {
			to[strings.ToLower(r.Address)]++
		}
	}
	if len(msgs) != 2 || to[testenv.UserEmail] != 1 || to["bob@example.com"] != 1 {
		t.Fatalf("delivered %d messages: %v; want one to each", len(msgs), to)
	}
}
