package wasm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/portico-idp/portico/plugins/wasm"
	"github.com/portico-idp/portico/plugins/wasm/wasmtest"
	"github.com/portico-idp/portico/sdk"
)

func TestGoModuleLogin(t *testing.T) {
	ctx := context.Background()
	logs := &logBuf{}
	m := load(t, misbehave(t, "v1"), config(t, users, nil), logs.logger())
	pc := password(t, m)
	id, err := pc.Login(ctx, sdk.Scopes{}, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "user-alice" || id.Attributes["module_version"][0] != "v1" {
		t.Errorf("identity %+v", id)
	}
	if _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "nope"); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	// The module's slog record arrives as one: its message, its level,
	// its attributes grouped under "module" (as a process plugin's are
	// under "plugin"), not a line of text inside a message.
	var found bool
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Level, Msg string
			Module     map[string]any
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if strings.Contains(rec.Msg, "msg=") || strings.Contains(rec.Msg, `"msg"`) {
			t.Errorf("a record encoded inside the message: %s", line)
		}
		if rec.Msg == "configured" {
			found = true
			if rec.Level != "INFO" || rec.Module["version"] != "v1" || rec.Module["users"] != 2.0 || len(rec.Module) != 2 {
				t.Errorf("the module's record: %s", line)
			}
		}
	}
	if !found {
		t.Errorf("the module's log record did not reach the broker's log:\n%s", logs.String())
	}
}

func TestHandModuleLogin(t *testing.T) {
	ctx := context.Background()
	logs := &logBuf{}
	m := load(t, wasmtest.HandModule(wasmtest.HandOptions{Version: 1}), config(t, nil, nil), logs.logger())
	pc := password(t, m)
	id, err := pc.Login(ctx, sdk.Scopes{}, "anyone", "letmein")
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != wasmtest.HandSubject || id.Email != wasmtest.HandEmail {
		t.Errorf("identity %+v", id)
	}
	if _, err := pc.Login(ctx, sdk.Scopes{}, "anyone", "letmeout"); !errors.Is(err, sdk.ErrInvalidCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if !strings.Contains(logs.String(), "hand-written module: login") {
		t.Errorf("no log line from the module:\n%s", logs.String())
	}
	_ = wasm.SHA256
}
