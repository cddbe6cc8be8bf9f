package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// users is a password and refresh connector over a map.
type users map[string]string

func (u users) Login(_ context.Context, s sdk.Scopes, name, pw string) (sdk.Identity, error) {
	if p, ok := u[name]; !ok || p != pw {
		return sdk.Identity{}, sdk.ErrInvalidCredentials
	}
	id := sdk.Identity{Subject: "id-" + name, Username: name}
	if s.Groups {
		id.Groups = []string{"g"}
	}
	return id, nil
}

func (u users) Refresh(_ context.Context, _ sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	if _, ok := u[id.Username]; !ok {
		return sdk.Identity{}, sdk.ErrUserGone
	}
	return id, nil
}

// jsonTransport serves requests in-process through a JSON round trip, as a
// process or WASM boundary would.
func jsonTransport(c any) wire.Transport {
	return func(ctx context.Context, req wire.Request) (wire.Response, error) {
		raw, err := json.Marshal(req)
		if err != nil {
			return wire.Response{}, err
		}
		var in wire.Request
		if err := json.Unmarshal(raw, &in); err != nil {
			return wire.Response{}, err
		}
		out, err := json.Marshal(wire.Serve(ctx, c, in))
		if err != nil {
			return wire.Response{}, err
		}
		var resp wire.Response
		return resp, json.Unmarshal(out, &resp)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	r, err := wire.Dial(ctx, jsonTransport(users{"alice": "pw"}))
	if err != nil {
		t.Fatal(err)
	}
	c := wire.Connector(r)
	pc, ok := c.(sdk.PasswordConnector)
	if !ok {
		t.Fatal("not a PasswordConnector")
	}
	if _, ok := c.(sdk.CallbackConnector); ok {
		t.Error("claims a capability the far side lacks")
	}
	id, err := pc.Login(ctx, sdk.Scopes{Groups: true}, "alice", "pw")
	if err != nil || id.Subject != "id-alice" || len(id.Groups) != 1 {
		t.Fatalf("login: %+v %v", id, err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"wrong password", func() error { _, err := pc.Login(ctx, sdk.Scopes{}, "alice", "x"); return err }(), sdk.ErrInvalidCredentials},
		{"gone at refresh", func() error {
			_, err := c.(sdk.RefreshConnector).Refresh(ctx, sdk.Scopes{}, sdk.Identity{Username: "bob"})
			return err
		}(), sdk.ErrUserGone},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestBoundaryFailureIsUnavailable(t *testing.T) {
	ctx := context.Background()
	down := false
	inner := jsonTransport(users{"alice": "pw"})
	r, err := wire.Dial(ctx, func(ctx context.Context, req wire.Request) (wire.Response, error) {
		if down {
			return wire.Response{}, errors.New("plugin process exited")
		}
		return inner(ctx, req)
	})
	if err != nil {
		t.Fatal(err)
	}
	down = true
	if _, err := r.Login(ctx, sdk.Scopes{}, "alice", "pw"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("boundary failure: %v, want ErrUnavailable", err)
	}
}

func TestVersionMismatch(t *testing.T) {
	_, err := wire.Dial(context.Background(), func(context.Context, wire.Request) (wire.Response, error) {
		return wire.Response{Info: &wire.Info{Version: wire.Version + 1, Password: true}}, nil
	})
	if err == nil {
		t.Fatal("a newer protocol version was accepted")
	}
}

func TestServeUnknownAndMissing(t *testing.T) {
	ctx := context.Background()
	for _, req := range []wire.Request{{Op: "nope"}, {Op: wire.OpLoginURL}, {Op: wire.OpCallback}, {Op: wire.OpMetadata}, {Op: wire.OpRefresh}} {
		resp := wire.Serve(ctx, users{}, req)
		if resp.Error == nil || resp.Error.Kind != wire.KindFailed {
			t.Errorf("%q: %+v", req.Op, resp)
		}
	}
}

func FuzzServe(f *testing.F) {
	f.Add([]byte(`{"op":"login","username":"alice","password":"pw"}`))
	f.Add([]byte(`{"op":"refresh","identity":{"subject":"x","username":"alice"}}`))
	f.Add([]byte(`{"op":"callback"}`))
	f.Add([]byte(`{"op":"info"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req wire.Request
		if json.Unmarshal(raw, &req) != nil {
			return
		}
		resp := wire.Serve(context.Background(), users{"alice": "pw"}, req)
		if _, err := json.Marshal(resp); err != nil {
			t.Fatal(err)
		}
	})
}
