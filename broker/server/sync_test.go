package server_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/admin"
	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/server"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/testenv"
)

// TestSyncByNotify is acceptance 4 of issue 24: with the poll an hour
// apart (and B's cached clients kept an hour), a key rotation, a connector
// added and a client deleted on replica A reach replica B on the same
// PostgreSQL schema, which only LISTEN/NOTIFY can have carried.
// It checks order, not speed: the wait is liveness only.
func TestSyncByNotify(t *testing.T) {
	schema := testenv.PostgresSchema(t)
	shared := t.TempDir() // the sealing key both replicas share
	replica := func() *testenv.Broker {
		cfg := testenv.Config(t)
		cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: schema, Dir: shared}
		cfg.Ops.SyncInterval = config.Duration(time.Hour)
		return testenv.Start(t, cfg)
	}
	a, b := replica(), replica()
	ctx := t.Context()
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("B never saw %s (the poll is an hour apart)", what)
			}
		}
	}

	if err := a.Server.Tokens.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(a.Server.Tokens.JWKS(), &jwks); err != nil {
		t.Fatal(err)
	}
	eventually("A's rotated keys", func() bool {
		var got jose.JSONWebKeySet
		if err := json.Unmarshal(b.Server.Tokens.JWKS(), &got); err != nil {
			t.Fatal(err)
		}
		for _, k := range jwks.Keys {
			if len(got.Key(k.KeyID)) == 0 {
				return false
			}
		}
		return true
	})

	// What the admin API stores for a connector it adds (on A).
	val, err := json.Marshal(map[string]any{"spec": admin.ConnectorSpec{ID: "extra", Type: "local", Name: "Extra"}, "time": time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Server.Store.PutRecord(ctx, store.Record{Kind: admin.ConnectorRecordKind, Key: "extra", Value: val}); err != nil {
		t.Fatal(err)
	}
	eventually("the connector added on A", func() bool {
		for _, cn := range b.Server.Broker.Connectors() {
			if cn.ID == "extra" {
				return true
			}
		}
		return false
	})

	server.SetClientCacheTTL(b.Server, time.Hour)
	if _, err := b.Server.Store.GetClient(ctx, testenv.ClientID); err != nil { // now cached on B
		t.Fatal(err)
	}
	if err := a.Server.Store.DeleteClient(ctx, testenv.ClientID); err != nil {
		t.Fatal(err)
	}
	eventually("the client deleted on A", func() bool {
		_, err := b.Server.Store.GetClient(ctx, testenv.ClientID)
		return errors.Is(err, store.ErrNotFound)
	})
}
