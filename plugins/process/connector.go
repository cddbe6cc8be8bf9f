package process

import (
	"context"
	"fmt"
	"io"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// remote is the plugin's connector as the broker calls it: each call goes
// to the instance running now, or fails at once while there is none.
type remote struct{ p *Plugin }

func (r remote) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	inst, err := r.p.current()
	if err != nil {
		return sdk.Identity{}, err
	}
	return inst.remote.Login(ctx, s, username, password)
}

func (r remote) LoginURL(ctx context.Context, s sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	inst, err := r.p.current()
	if err != nil {
		return sdk.Redirect{}, err
	}
	return inst.remote.LoginURL(ctx, s, callbackURL, state)
}

func (r remote) HandleCallback(ctx context.Context, s sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	inst, err := r.p.current()
	if err != nil {
		return sdk.Identity{}, err
	}
	return inst.remote.HandleCallback(ctx, s, req)
}

func (r remote) Refresh(ctx context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	inst, err := r.p.current()
	if err != nil {
		return sdk.Identity{}, err
	}
	return inst.remote.Refresh(ctx, s, id)
}

func (r remote) Metadata(ctx context.Context) (sdk.Document, error) {
	inst, err := r.p.current()
	if err != nil {
		return sdk.Document{}, err
	}
	return inst.remote.Metadata(ctx)
}

// full is what compose picks capabilities from.
type full interface {
	sdk.PasswordConnector
	sdk.CallbackConnector
	sdk.RefreshConnector
	sdk.MetadataConnector
}

// compose returns a value implementing exactly the sdk interfaces info
// names, each served by c, plus io.Closer served by cl: the broker finds
// capabilities by type assertion, so a value with more methods than the
// plugin implements would be offered for logins it cannot do.
func compose(info wire.Info, c full, cl io.Closer) any {
	type (
		pw = sdk.PasswordConnector
		cb = sdk.CallbackConnector
		rf = sdk.RefreshConnector
		md = sdk.MetadataConnector
		cs = io.Closer
	)
	mask := 0
	for i, b := range []bool{info.Password, info.Callback, info.Refresh, info.Metadata} {
		if b {
			mask |= 1 << i
		}
	}
	switch mask {
	case 0b0001:
		return struct {
			pw
			cs
		}{c, cl}
	case 0b0010:
		return struct {
			cb
			cs
		}{c, cl}
	case 0b0011:
		return struct {
			pw
			cb
			cs
		}{c, c, cl}
	case 0b0100:
		return struct {
			rf
			cs
		}{c, cl}
	case 0b0101:
		return struct {
			pw
			rf
			cs
		}{c, c, cl}
	case 0b0110:
		return struct {
			cb
			rf
			cs
		}{c, c, cl}
	case 0b0111:
		return struct {
			pw
			cb
			rf
			cs
		}{c, c, c, cl}
	case 0b1000:
		return struct {
			md
			cs
		}{c, cl}
	case 0b1001:
		return struct {
			pw
			md
			cs
		}{c, c, cl}
	case 0b1010:
		return struct {
			cb
			md
			cs
		}{c, c, cl}
	case 0b1011:
		return struct {
			pw
			cb
			md
			cs
		}{c, c, c, cl}
	case 0b1100:
		return struct {
			rf
			md
			cs
		}{c, c, cl}
	case 0b1101:
		return struct {
			pw
			rf
			md
			cs
		}{c, c, c, cl}
	case 0b1110:
		return struct {
			cb
			rf
			md
			cs
		}{c, c, c, cl}
	case 0b1111:
		return struct {
			pw
			cb
			rf
			md
			cs
		}{c, c, c, c, cl}
	}
	return struct{ cs }{cl}
}

func errCapabilities(was, now wire.Info) error {
	return fmt.Errorf("the restarted plugin implements %+v, the first run implemented %+v: restart the broker to pick up a changed plugin", now, was)
}

// Unavailable returns the connector the broker registers for a plugin it
// refused to start: every login and refresh fails with an error wrapping
// sdk.ErrUnavailable and naming why, so the login page answers 503
// ("try later") and the broker serves its other connectors.
func Unavailable(id string, why error) any {
	return unavailable{fmt.Errorf("%w: connector %s was not started: %v", sdk.ErrUnavailable, id, why)}
}

type unavailable struct{ err error }

func (u unavailable) Login(context.Context, sdk.Scopes, string, string) (sdk.Identity, error) {
	return sdk.Identity{}, u.err
}

func (u unavailable) LoginURL(context.Context, sdk.Scopes, string, string) (sdk.Redirect, error) {
	return sdk.Redirect{}, u.err
}

func (u unavailable) HandleCallback(context.Context, sdk.Scopes, sdk.CallbackRequest) (sdk.Identity, error) {
	return sdk.Identity{}, u.err
}

func (u unavailable) Refresh(context.Context, sdk.Scopes, sdk.Identity) (sdk.Identity, error) {
	return sdk.Identity{}, u.err
}
