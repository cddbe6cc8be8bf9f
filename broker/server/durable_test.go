package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/testenv"
)

// unsynced is a store each of whose client reads may have seen a write
// not yet durable (store.NoteRead), whose syncs end with syncErr.
type unsynced struct {
	store.Store
	syncErr error
}

func (u unsynced) GetClient(ctx context.Context, id string) (store.Client, error) {
	store.NoteRead(ctx, 1)
	return u.Store.GetClient(ctx, id)
}

func (u unsynced) WaitDurable(context.Context, uint64) error { return u.syncErr }

// TestNoAuditOfWithheldTokens: tokens whose answer became a 503, because
// what it stood on could not be synced, are not audited as issued; with
// the sync working the same request's tokens are.
func TestNoAuditOfWithheldTokens(t *testing.T) {
	for _, tc := range []struct {
		syncErr error
		status  int
		audited bool
	}{
		{syncErr: nil, status: http.StatusOK, audited: true},
		{syncErr: errors.New("EIO"), status: http.StatusServiceUnavailable, audited: false},
	} {
		mem, err := badger.Open(badger.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		var logs testenv.LogBuffer
		cfg := testenv.Config(t)
		cfg.Issuer = "http://127.0.0.1:1"
		s, err := server.OpenOn(t.Context(), cfg, unsynced{Store: mem, syncErr: tc.syncErr}, slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(testenv.ClientID, testenv.ClientSecret)
		rec := httptest.NewRecorder()
		s.Broker.ServeHTTP(rec, req)
		s.Close()
		if rec.Code != tc.status {
			t.Fatalf("sync error %v: status %d, want %d: %s", tc.syncErr, rec.Code, tc.status, rec.Body)
		}
		if got := strings.Contains(logs.String(), "type=token.issue"); got != tc.audited {
			t.Errorf("sync error %v: token.issue audited %v, want %v:\n%s", tc.syncErr, got, tc.audited, logs.String())
		}
	}
}
