package oidc

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// Connector logs people in at an OpenID Connect upstream. It implements
// sdk.CallbackConnector and sdk.RefreshConnector and is safe for
// concurrent use.
type Connector struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	sealer *upstream.Sealer

	mu           sync.Mutex
	disc         *discovered   // nil until discovery has succeeded
	discovering  chan struct{} // closed when the attempt in flight ends
	discoveryErr error         // of the last attempt

	refreshLocks [64]sync.Mutex // by subject: one upstream refresh at a time per person
	rotated      rotations
}

var (
	_ sdk.CallbackConnector = (*Connector)(nil)
	_ sdk.RefreshConnector  = (*Connector)(nil)
)

// New applies cfg's defaults, validates it and returns a connector. key
// (32 bytes, server.Env.Key) encrypts the upstream refresh tokens kept in
// ConnectorData. New reads the upstream's discovery document: an upstream
// that answers with one for another issuer, or none, is a config error; one
// that cannot be reached is logged as a warning and asked again on first
// use. log may be nil.
func New(ctx context.Context, cfg Config, key []byte, log *slog.Logger) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sealer, err := upstream.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.kind, err)
	}
	c := &Connector{cfg: cfg, log: log, client: upstream.NewClient(time.Duration(cfg.Timeout)), sealer: sealer}
	dctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Timeout))
	defer cancel()
	d, err := c.discover(dctx)
	switch {
	case errors.Is(err, errConfig):
		return nil, fmt.Errorf("%s: config.issuer: %s: %w", cfg.kind, cfg.Issuer, err)
	case err != nil:
		log.WarnContext(ctx, cfg.kind+": upstream unreachable at start; its logins fail with 503 until it answers", "issuer", cfg.Issuer, "err", err)
	default:
		c.disc = d
	}
	return c, nil
}

// loginState is what LoginURL hands the broker to keep for the callback.
type loginState struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
}

func (c *Connector) oauth2Config(d *discovered, redirectURL string, s sdk.Scopes) *oauth2.Config {
	scopes := c.cfg.Scopes
	if s.OfflineAccess && c.cfg.offlineParams == nil {
		scopes = append(scopes[:len(scopes):len(scopes)], "offline_access")
	}
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, Endpoint: d.endpoint, RedirectURL: redirectURL, Scopes: scopes}
}

// LoginURL sends the browser to the upstream's authorization endpoint with
// the broker's state, a fresh nonce and a PKCE challenge; the nonce and the
// verifier travel to HandleCallback in Redirect.Data.
func (c *Connector) LoginURL(ctx context.Context, s sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	d, err := c.provider(ctx)
	if err != nil {
		return sdk.Redirect{}, err
	}
	ls := loginState{Nonce: randomString(), Verifier: oauth2.GenerateVerifier()}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(ls.Verifier), oauth2.SetAuthURLParam("nonce", ls.Nonce)}
	params := maps.Clone(c.cfg.authParams)
	if s.OfflineAccess {
		if params == nil {
			params = map[string]string{}
		}
		maps.Copy(params, c.cfg.offlineParams)
	}
	for k, v := range params {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	data, err := json.Marshal(ls)
	if err != nil {
		return sdk.Redirect{}, err
	}
	return sdk.Redirect{URL: c.oauth2Config(d, callbackURL, s).AuthCodeURL(state, opts...), Data: data}, nil
}

// HandleCallback checks the upstream's answer, exchanges the code (with
// the PKCE verifier), verifies the id_token (signature, issuer, audience,
// expiry, nonce, at_hash), reads userinfo if configured and maps the
// claims. The broker has already checked state.
func (c *Connector) HandleCallback(ctx context.Context, s sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	param := func(k string) string {
		if v := req.Query[k]; len(v) > 0 {
			return v[0]
		}
		if v := req.Form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if e := param("error"); e != "" {
		desc := upstream.Printable(param("error_description"), 200)
		switch e {
		case "temporarily_unavailable", "server_error": // RFC 6749 §4.1.2.1: the upstream's trouble, not the person's
			return sdk.Identity{}, fmt.Errorf("%s: %w: upstream answered %s: %s", c.cfg.kind, sdk.ErrUnavailable, e, desc)
		}
		return sdk.Identity{}, fmt.Errorf("%s: %w: upstream answered %s: %s", c.cfg.kind, sdk.ErrInvalidCredentials, upstream.Printable(e, 60), desc)
	}
	var ls loginState
	if err := json.Unmarshal(req.Data, &ls); err != nil || ls.Nonce == "" || ls.Verifier == "" {
		return sdk.Identity{}, fmt.Errorf("%s: %w: no login state for this callback", c.cfg.kind, sdk.ErrInvalidCredentials)
	}
	code := param("code")
	if code == "" {
		return sdk.Identity{}, fmt.Errorf("%s: %w: callback without a code", c.cfg.kind, sdk.ErrInvalidCredentials)
	}
	d, err := c.provider(ctx)
	if err != nil {
		return sdk.Identity{}, err
	}
	// RFC 9207: an upstream that names itself must be the one we sent the
	// person to (defends against mix-up between upstreams).
	if iss := param("iss"); iss != "" && c.cfg.tenancy == nil && iss != d.issuer {
		return sdk.Identity{}, fmt.Errorf("%s: %w: callback from issuer %q", c.cfg.kind, sdk.ErrInvalidCredentials, upstream.Printable(iss, 200))
	}
	ctx = upstream.WithClient(ctx, c.client)
	tok, err := c.oauth2Config(d, req.URL, s).Exchange(ctx, code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		return sdk.Identity{}, c.tokenError("code exchange", err, sdk.ErrInvalidCredentials)
	}
	cl, err := c.verifiedClaims(ctx, d, tok, ls.Nonce)
	if err != nil {
		return sdk.Identity{}, err
	}
	id, err := mapIdentity(cl, &c.cfg)
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("%s: %w", c.cfg.kind, err)
	}
	c.addTenant(&id, cl)
	if tok.RefreshToken != "" {
		if id.ConnectorData, err = c.sealer.Seal(upstream.Tokens{Refresh: tok.RefreshToken}, id.Subject); err != nil {
			return sdk.Identity{}, fmt.Errorf("%s: seal refresh token: %w", c.cfg.kind, err)
		}
	} else if s.OfflineAccess {
		c.log.WarnContext(ctx, c.cfg.kind+": the upstream issued no refresh token although the application asked for offline access; refreshes of this login will fail", "issuer", c.cfg.Issuer)
	}
	return id, nil
}

// tokenError sorts a token endpoint failure: unreachable, slow, 5xx, 429
// or garbage (upstream.Unavailable) and a refused client (an operator's
// problem, not the person's) are sdk.ErrUnavailable; any other answer is
// the upstream's refusal, wrapped in refused.
func (c *Connector) tokenError(what string, err error, refused error) error {
	switch code := upstream.OAuthErrorCode(err); {
	case upstream.Unavailable(err):
		return fmt.Errorf("%s: %s: %w: %s", c.cfg.kind, what, sdk.ErrUnavailable, upstream.Printable(err.Error(), 300))
	case code == "invalid_client" || code == "unauthorized_client":
		c.log.Error(c.cfg.kind+": the upstream refuses Portico's client; check client_id and client_secret", "issuer", c.cfg.Issuer, "error", code)
		return fmt.Errorf("%s: %s: %w: %s", c.cfg.kind, what, sdk.ErrUnavailable, upstream.Printable(err.Error(), 300))
	default:
		return fmt.Errorf("%s: %s: %w: %s", c.cfg.kind, what, refused, upstream.Printable(err.Error(), 300))
	}
}

func randomString() string {
	var b [24]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
