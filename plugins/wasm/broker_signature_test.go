package wasm_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	brokerconfig "github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/plugins/internal/signing/signingtest"
	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/testenv"
)

// TestBrokerSignedModules: through a whole broker, with the keys given
// once in connector_signing: a signed module logs people in through the
// code flow; an unsigned one is refused at start, the reason logged, and
// its logins answer 503 while the other connectors serve.
func TestBrokerSignedModules(t *testing.T) {
	ctx := context.Background()
	publisher := signingtest.NewPublisher(t, t.TempDir(), "publisher")
	mod := wasmtest.HandModule(wasmtest.HandOptions{Version: 1})
	connector := func(id string, sign bool) brokerconfig.Connector {
		path := wasmtest.WriteModule(t, t.TempDir(), id+".wasm", mod, false)
		if sign {
			publisher.Sign(t, path)
		}
		return brokerconfig.Connector{ID: id, Type: "wasm", Name: id, Config: map[string]any{
			"path": path, "sha256": wasm.SHA256(mod), "cache_dir": t.TempDir()}}
	}
	cfg := testenv.Config(t)
	cfg.ConnectorSigning = brokerconfig.ConnectorSigning{PublisherKeys: []string{publisher.Key}, Required: true}
	cfg.Connectors = append(cfg.Connectors, connector("signed", true), connector("unsigned", false))
	b := testenv.Start(t, cfg)
	rp := func(id string) *testenv.RP {
		rp, err := testenv.NewRP(ctx, b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
		if err != nil {
			t.Fatal(err)
		}
		rp.Connector = id
		return rp
	}

	if _, id, err := rp("signed").Login(ctx, "anyone", "letmein"); err != nil {
		t.Fatalf("login through the signed module: %v", err)
	} else if id.Subject == "" {
		t.Error("no subject")
	}
	r := rp("unsigned")
	cb, err := r.Authorize(ctx, r.NewFlow().AuthURL, "anyone", "letmein")
	if err != nil {
		t.Fatal(err)
	}
	if cb.Status != http.StatusServiceUnavailable || cb.Query != nil {
		t.Errorf("unsigned module: status %d, query %v; want a 503 page", cb.Status, cb.Query)
	}
	if logs := b.Logs(); !strings.Contains(logs, "is not signed") || !strings.Contains(logs, "unsigned.wasm") {
		t.Errorf("the refusal's reason is not logged:\n%s", logs)
	}
	if _, _, err := rp("local").Login(ctx, testenv.UserName, testenv.UserPassword); err != nil {
		t.Errorf("the local connector: %v", err)
	}
}
