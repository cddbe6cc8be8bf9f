package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/plugin/proto"
	"github.com/portico-idp/portico/sdk/wire"
)

type pw struct{ user string }

func (p pw) Login(_ context.Context, _ sdk.Scopes, u, _ string) (sdk.Identity, error) {
	if u != p.user {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	return sdk.Identity{Subject: "s-" + u}, nil
}

func factory(_ context.Context, config json.RawMessage, _ *slog.Logger) (any, error) {
	var c struct{ User string }
	if err := json.Unmarshal(config, &c); err != nil || c.User == "" {
		return nil, errors.New("config: user required")
	}
	return pw{c.User}, nil
}

// TestServer drives the plugin side's service as the broker does, without
// a process: info before configure states only the version, calls before
// configure fail, configure runs the factory once.
func TestServer(t *testing.T) {
	s := &server{factory: factory, log: slog.New(slog.DiscardHandler)}
	call := func(raw string) wire.Response {
		t.Helper()
		out, err := s.Call(context.Background(), &proto.Message{Json: []byte(raw)})
		if err != nil {
			t.Fatal(err)
		}
		var r wire.Response
		if err := json.Unmarshal(out.Json, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, tc := range []struct {
		req  string
		want string // got starts with it: "info v1 password=false", "ok", "error failed: text", "identity s-a"
	}{
		{`{"op":"info"}`, "info v1 password=false"},
		{`{"op":"login","username":"a"}`, "error failed: the plugin was not configured"},
		{`not json`, "error failed: unreadable request"},
		{`{"op":"configure","config":{}}`, "error failed: config: user required"},
		{`{"op":"configure","config":{"user":"a"}}`, "ok"},
		{`{"op":"configure","config":{"user":"b"}}`, "error failed: the plugin was configured already"},
		{`{"op":"info"}`, "info v1 password=true"},
		{`{"op":"login","username":"a"}`, "identity s-a"},
		{`{"op":"login","username":"b"}`, "error invalid_credentials: invalid credentials"},
		{`{"op":"login_url"}`, "error failed: connector is not a callback connector"},
	} {
		r := call(tc.req)
		got := "ok"
		switch {
		case r.Error != nil:
			got = fmt.Sprintf("error %s: %s", r.Error.Kind, r.Error.Message)
		case r.Info != nil:
			got = fmt.Sprintf("info v%d password=%t", r.Info.Version, r.Info.Password)
		case r.Identity != nil:
			got = "identity " + r.Identity.Subject
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.req, got, tc.want)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, slog.LevelInfo)
	log.Debug("hidden")
	log.Warn("careful", "n", 1, slog.Group("g", "k", "v"))
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if m["@level"] != "warn" || m["@message"] != "careful" || m["n"] != 1.0 || m["g"].(map[string]any)["k"] != "v" {
		t.Errorf("record %v", m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", m["@timestamp"].(string)); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	for l, want := range map[slog.Level]string{slog.LevelDebug - 4: "trace", slog.LevelDebug: "debug", slog.LevelInfo + 2: "info", slog.LevelError + 4: "error"} {
		if got := levelName(l); got != want {
			t.Errorf("level %v: %s, want %s", l, got, want)
		}
	}
}
