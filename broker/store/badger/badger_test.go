package badger_test

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/storetest"
)

func open(t *testing.T, dir string) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

func TestConformanceInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("the on-disk run covers the same code")
	}
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := badger.Open(badger.Options{InMemory: true, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestDataSurvivesReopen(t *testing.T) {
	dir, ctx := t.TempDir(), t.Context()
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	u := store.User{ID: "u1", Username: "alice", Groups: []string{"admins"}, CreatedAt: created}
	id := store.Identity{ConnectorID: "github", Subject: "42", UserID: "u1", LastSeen: created}
	a := store.LocalAccount{ID: "l1", Username: "alice", Email: "Alice@Example.com", PasswordHash: "h", CreatedAt: created}
	ks := store.KeySet{Keys: []store.SigningKey{{ID: "k1", Alg: "ES256", PrivateJWK: []byte(`{}`), CreatedAt: created, ActiveFrom: created}}}
	f := store.RefreshFamily{ID: "f1", UserID: "u1", Current: "h1", Expiry: time.Now().Add(time.Hour)}

	s := open(t, dir)
	for what, err := range map[string]error{
		"create user":   s.CreateUser(ctx, u, id),
		"create local":  s.CreateLocalAccount(ctx, a),
		"create keys":   s.UpdateKeys(ctx, ks),
		"create family": s.CreateRefreshFamily(ctx, f, store.RefreshToken{Hash: "h1", FamilyID: "f1", Expiry: f.Expiry}),
	} {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, dir)
	defer s.Close()
	gotU, err := s.GetUser(ctx, "u1")
	if err != nil || gotU.Username != "alice" || !gotU.CreatedAt.Equal(created) || len(gotU.Groups) != 1 {
		t.Errorf("user after reopen: %+v, %v", gotU, err)
	}
	if ids, err := s.ListIdentities(ctx, "u1"); err != nil || len(ids) != 1 || ids[0].Subject != "42" {
		t.Errorf("identities after reopen: %+v, %v", ids, err)
	}
	if got, err := s.GetLocalAccountByLogin(ctx, "alice@example.com"); err != nil || got.ID != "l1" {
		t.Errorf("local account after reopen: %+v, %v", got, err)
	}
	if got, err := s.GetKeys(ctx); err != nil || got.Version != 1 || len(got.Keys) != 1 || got.Keys[0].ID != "k1" {
		t.Errorf("keys after reopen: %+v, %v", got, err)
	}
	if got, err := s.GetRefreshToken(ctx, "h1"); err != nil || got.FamilyID != "f1" {
		t.Errorf("refresh token after reopen: %+v, %v", got, err)
	}
	if fs, err := s.ListRefreshFamilies(ctx, "u1"); err != nil || len(fs) != 1 {
		t.Errorf("refresh families after reopen: %+v, %v", fs, err)
	}
}

func TestOpenDirectoryInUse(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	_, err := badger.Open(badger.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, badger.ErrInUse) {
		t.Fatalf("second Open: %v, want %v", err, badger.ErrInUse)
	}
	want := "badger: open " + dir + ": data directory is in use by another portico process"
	if err.Error() != want {
		t.Errorf("second Open:\n got  %q\n want %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Closing releases the directory.
	if err := open(t, dir).Close(); err != nil {
		t.Fatalf("Close after reopen: %v", err)
	}
}

func TestCloseTwice(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := s.GetUser(t.Context(), "u1"); err == nil || !strings.Contains(err.Error(), "badger: get user u1") {
		t.Errorf("GetUser after Close: %v, want a wrapped error", err)
	}
}
