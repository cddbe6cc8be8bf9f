// Package wire is how a connector's calls cross a boundary: a process
// (go-plugin) or a WASM sandbox. Both runtimes carry the same messages, so
// one connector source serves either way and the broker's side is written
// once.
//
// A call is a Request naming one operation of the sdk contract; its answer
// is a Response. Messages are JSON: every language can produce it (a WASM
// module in Rust or hand-written WAT included), and the cost (tens of
// microseconds) is small next to a password hash or an upstream round trip.
// Errors cross as a Kind, so the broker's errors.Is(err, sdk.ErrUnavailable)
// keeps working on the far side of the boundary.
//
// Version is the protocol version both sides state at the handshake. It
// changes only when a change would break an existing plugin or module;
// fields are added compatibly (unknown fields are ignored).
package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/portico-idp/portico/sdk"
)

// Version of the protocol.
const Version = 1

// Operations.
const (
	OpInfo      = "info"      // what the connector can do; sent first
	OpConfigure = "configure" // its config block, as JSON
	OpLogin     = "login"
	OpLoginURL  = "login_url"
	OpCallback  = "callback"
	OpRefresh   = "refresh"
	OpMetadata  = "metadata"
)

// Request is one call: Op names the operation, and only the members that
// operation uses are set.
type Request struct {
	// Op is the operation; the broker writes it first.
	Op string `json:"op"`
	// Scopes is what the client asked for (login, login_url, callback,
	// refresh).
	Scopes sdk.Scopes `json:"scopes,omitzero"`
	// Config is the connector's config block, any JSON value (configure).
	Config json.RawMessage `json:"config,omitempty"`

	// Username and Password are what the person typed (login).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`

	// CallbackURL is where the upstream must send the browser back, and
	// State what must come back with it unchanged (login_url).
	CallbackURL string `json:"callback_url,omitempty"`
	State       string `json:"state,omitempty"`

	// Callback is the browser's request to the callback URL (callback).
	Callback *sdk.CallbackRequest `json:"callback,omitempty"`
	// Identity is the identity to check again, as the last login or
	// refresh returned it (refresh).
	Identity *sdk.Identity `json:"identity,omitempty"`
}

// Response answers a Request: a result, or an Error. The answer to
// configure, when the connector accepts its config, is the empty object.
type Response struct {
	// Info answers info.
	Info *Info `json:"info,omitempty"`
	// Identity answers login, callback and refresh.
	Identity *sdk.Identity `json:"identity,omitempty"`
	// Redirect answers login_url.
	Redirect *sdk.Redirect `json:"redirect,omitempty"`
	// Document answers metadata.
	Document *sdk.Document `json:"document,omitempty"`
	// Error is the answer of an operation that failed.
	Error *Error `json:"error,omitempty"`
}

// Info describes a connector: the protocol version it speaks and the
// capabilities (sdk interfaces) it implements.
type Info struct {
	// Version is the protocol version the connector speaks (Version).
	Version int `json:"version"`
	// Password: the connector answers login (sdk.PasswordConnector).
	Password bool `json:"password,omitempty"`
	// Callback: it answers login_url and callback (sdk.CallbackConnector).
	Callback bool `json:"callback,omitempty"`
	// Refresh: it answers refresh (sdk.RefreshConnector).
	Refresh bool `json:"refresh,omitempty"`
	// Metadata: it answers metadata (sdk.MetadataConnector).
	Metadata bool `json:"metadata,omitempty"`
}

// Kinds of error, the sdk sentinels by name.
const (
	KindInvalidCredentials = "invalid_credentials"
	KindUnavailable        = "unavailable"
	KindUserGone           = "user_gone"
	KindFailed             = "failed" // anything else
	// Password states (sdk.ErrPasswordExpired and the like). A peer that
	// does not know them reads them as KindFailed.
	KindPasswordExpired    = "password_expired"
	KindPasswordMustChange = "password_must_change"
	KindAccountLocked      = "account_locked"
)

// Error is an error crossing the boundary.
type Error struct {
	// Kind is one of the Kind constants; a kind the reader does not know
	// is read as KindFailed.
	Kind string `json:"kind"`
	// Message says what went wrong, for the broker's log.
	Message string `json:"message,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Unwrap makes errors.Is(err, sdk.ErrUnavailable) and the like hold on
// the broker's side.
func (e *Error) Unwrap() error {
	switch e.Kind {
	case KindInvalidCredentials:
		return sdk.ErrInvalidCredentials
	case KindUnavailable:
		return sdk.ErrUnavailable
	case KindUserGone:
		return sdk.ErrUserGone
	case KindPasswordExpired:
		return sdk.ErrPasswordExpired
	case KindPasswordMustChange:
		return sdk.ErrPasswordMustChange
	case KindAccountLocked:
		return sdk.ErrAccountLocked
	}
	return nil
}

// ErrorOf turns a connector's error into its wire form.
func ErrorOf(err error) *Error {
	if err == nil {
		return nil
	}
	kind := KindFailed
	switch {
	// The states first: each also matches ErrInvalidCredentials.
	case errors.Is(err, sdk.ErrPasswordExpired):
		kind = KindPasswordExpired
	case errors.Is(err, sdk.ErrPasswordMustChange):
		kind = KindPasswordMustChange
	case errors.Is(err, sdk.ErrAccountLocked):
		kind = KindAccountLocked
	case errors.Is(err, sdk.ErrInvalidCredentials):
		kind = KindInvalidCredentials
	case errors.Is(err, sdk.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		kind = KindUnavailable
	case errors.Is(err, sdk.ErrUserGone):
		kind = KindUserGone
	}
	return &Error{Kind: kind, Message: err.Error()}
}

// InfoOf reports what connector c implements.
func InfoOf(c any) Info {
	_, pw := c.(sdk.PasswordConnector)
	_, cb := c.(sdk.CallbackConnector)
	_, rf := c.(sdk.RefreshConnector)
	_, md := c.(sdk.MetadataConnector)
	return Info{Version: Version, Password: pw, Callback: cb, Refresh: rf, Metadata: md}
}

// Configurable is what a plugin's connector factory is: it receives the
// connector's config block (JSON) once, before any other call but info.
type Configurable interface {
	Configure(ctx context.Context, config json.RawMessage) error
}

// Serve answers one request with connector c: the plugin side of every
// runtime. It never panics on a bad request; a panic in c is the
// runtime's to contain.
func Serve(ctx context.Context, c any, req Request) Response {
	fail := func(err error) Response { return Response{Error: ErrorOf(err)} }
	missing := func(capability string) Response {
		return Response{Error: &Error{Kind: KindFailed, Message: "connector is not a " + capability + " connector"}}
	}
	switch req.Op {
	case OpInfo:
		info := InfoOf(c)
		return Response{Info: &info}
	case OpConfigure:
		if cf, ok := c.(Configurable); ok {
			if err := cf.Configure(ctx, req.Config); err != nil {
				return fail(err)
			}
		}
		return Response{}
	case OpLogin:
		pc, ok := c.(sdk.PasswordConnector)
		if !ok {
			return missing("password")
		}
		id, err := pc.Login(ctx, req.Scopes, req.Username, req.Password)
		if err != nil {
			return fail(err)
		}
		return Response{Identity: &id}
	case OpLoginURL:
		cc, ok := c.(sdk.CallbackConnector)
		if !ok {
			return missing("callback")
		}
		rd, err := cc.LoginURL(ctx, req.Scopes, req.CallbackURL, req.State)
		if err != nil {
			return fail(err)
		}
		return Response{Redirect: &rd}
	case OpCallback:
		cc, ok := c.(sdk.CallbackConnector)
		if !ok {
			return missing("callback")
		}
		if req.Callback == nil {
			return fail(errors.New("callback request missing"))
		}
		id, err := cc.HandleCallback(ctx, req.Scopes, *req.Callback)
		if err != nil {
			return fail(err)
		}
		return Response{Identity: &id}
	case OpRefresh:
		rc, ok := c.(sdk.RefreshConnector)
		if !ok {
			return missing("refresh")
		}
		if req.Identity == nil {
			return fail(errors.New("identity missing"))
		}
		id, err := rc.Refresh(ctx, req.Scopes, *req.Identity)
		if err != nil {
			return fail(err)
		}
		return Response{Identity: &id}
	case OpMetadata:
		mc, ok := c.(sdk.MetadataConnector)
		if !ok {
			return missing("metadata")
		}
		doc, err := mc.Metadata(ctx)
		if err != nil {
			return fail(err)
		}
		return Response{Document: &doc}
	}
	return Response{Error: &Error{Kind: KindFailed, Message: fmt.Sprintf("unknown operation %q", req.Op)}}
}

// Transport carries one request to the far side and brings its answer
// back: a gRPC call, or a call into a WASM instance. An error from it is a
// failure of the boundary itself (the process died, the module trapped).
type Transport func(ctx context.Context, req Request) (Response, error)

// Remote is a connector on the far side of a Transport, as the broker sees
// it. Wrap it with Connector to get exactly the sdk interfaces the far side
// implements.
type Remote struct {
	t    Transport
	info Info
}

// Dial asks the far side what it is and checks the protocol version.
func Dial(ctx context.Context, t Transport) (*Remote, error) {
	resp, err := t(ctx, Request{Op: OpInfo})
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	if resp.Info == nil {
		return nil, errors.New("wire: no info in the answer to info")
	}
	if resp.Info.Version != Version {
		return nil, fmt.Errorf("wire: the connector speaks protocol version %d, this broker speaks %d", resp.Info.Version, Version)
	}
	return &Remote{t: t, info: *resp.Info}, nil
}

// Info is what the far side said it implements.
func (r *Remote) Info() Info { return r.info }

// call makes one call; a boundary failure is sdk.ErrUnavailable, so the
// broker answers "try again" and ends no session over it.
func (r *Remote) call(ctx context.Context, req Request) (Response, error) {
	resp, err := r.t(ctx, req)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", sdk.ErrUnavailable, err)
	}
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}

// Configure sends the connector its config block.
func (r *Remote) Configure(ctx context.Context, config json.RawMessage) error {
	_, err := r.call(ctx, Request{Op: OpConfigure, Config: config})
	return err
}

func (r *Remote) identity(ctx context.Context, req Request) (sdk.Identity, error) {
	resp, err := r.call(ctx, req)
	if err != nil {
		return sdk.Identity{}, err
	}
	if resp.Identity == nil {
		return sdk.Identity{}, errors.New("wire: no identity in the answer")
	}
	return *resp.Identity, nil
}

// Login calls the far side's PasswordConnector.
func (r *Remote) Login(ctx context.Context, s sdk.Scopes, username, password string) (sdk.Identity, error) {
	return r.identity(ctx, Request{Op: OpLogin, Scopes: s, Username: username, Password: password})
}

// LoginURL calls the far side's CallbackConnector.
func (r *Remote) LoginURL(ctx context.Context, s sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	resp, err := r.call(ctx, Request{Op: OpLoginURL, Scopes: s, CallbackURL: callbackURL, State: state})
	if err != nil {
		return sdk.Redirect{}, err
	}
	if resp.Redirect == nil {
		return sdk.Redirect{}, errors.New("wire: no redirect in the answer")
	}
	return *resp.Redirect, nil
}

// HandleCallback calls the far side's CallbackConnector.
func (r *Remote) HandleCallback(ctx context.Context, s sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	return r.identity(ctx, Request{Op: OpCallback, Scopes: s, Callback: &req})
}

// Refresh calls the far side's RefreshConnector.
func (r *Remote) Refresh(ctx context.Context, s sdk.Scopes, id sdk.Identity) (sdk.Identity, error) {
	return r.identity(ctx, Request{Op: OpRefresh, Scopes: s, Identity: &id})
}

// Metadata calls the far side's MetadataConnector.
func (r *Remote) Metadata(ctx context.Context) (sdk.Document, error) {
	resp, err := r.call(ctx, Request{Op: OpMetadata})
	if err != nil {
		return sdk.Document{}, err
	}
	if resp.Document == nil {
		return sdk.Document{}, errors.New("wire: no document in the answer")
	}
	return *resp.Document, nil
}
