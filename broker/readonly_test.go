package broker_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// TestReadOnlyDatabase: PostgreSQL refusing writes as read-only (SQLSTATE
// 25006: a hot standby, a database set read-only; here a trigger on the
// refresh families) is the store unavailable: a refresh is answered 503
// temporarily_unavailable and /readyz takes the replica out of the load
// balancer. Before, /readyz said ready (found by a black-box attack).
func TestReadOnlyDatabase(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	cfg := testenv.Config(t)
	cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema}
	b := testenv.Start(t, cfg)
	tok, _, err := newRP(t, b).Login(t.Context(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		resp, err := http.Get(b.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, body := ready(); st != http.StatusOK {
		t.Fatalf("/readyz before: %d %s", st, body)
	}
	refuseWrites(t, schema, "refresh_families", "read_only_sql_transaction")
	r := refresh(t, b, tok.RefreshToken)
	if r.Status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" {
		t.Errorf("refresh on a read-only database: %d %v, want 503 temporarily_unavailable", r.Status, r.Body)
	}
	if st, body := ready(); st != http.StatusServiceUnavailable || !strings.Contains(body, "store") {
		t.Errorf("/readyz with writes refused: %d %s, want 503 naming the store", st, body)
	}
}
