package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// maxDocument bounds a discovery document or userinfo response.
const maxDocument = 1 << 20

// discovered is what the upstream's discovery document says, with the
// id_token verifier built from it. It does not change once read.
type discovered struct {
	issuer   string // as the document names it
	endpoint oauth2.Endpoint
	userinfo string
	verifier *gooidc.IDTokenVerifier
}

// errConfig marks a discovery failure that is the config's fault (the
// upstream answered, and not what the config expects); New fails on it.
var errConfig = errors.New("the upstream does not match the config")

type discoveryDoc struct {
	Issuer      string   `json:"issuer"`
	AuthURL     string   `json:"authorization_endpoint"`
	TokenURL    string   `json:"token_endpoint"`
	JWKSURL     string   `json:"jwks_uri"`
	UserInfoURL string   `json:"userinfo_endpoint"`
	Algs        []string `json:"id_token_signing_alg_values_supported"`
	AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// goOIDCAlgs are the algorithms go-oidc verifies; discovery may list more.
var goOIDCAlgs = []string{
	gooidc.RS256, gooidc.RS384, gooidc.RS512, gooidc.ES256, gooidc.ES384, gooidc.ES512,
	gooidc.PS256, gooidc.PS384, gooidc.PS512, gooidc.EdDSA,
}

// discover reads the discovery document and builds the verifier. Errors
// wrapping errConfig mean the upstream answered with something the config
// does not match; others mean it could not be asked.
func (c *Connector) discover(ctx context.Context) (*discovered, error) {
	base := c.cfg.Issuer
	if c.cfg.discoveryURL != "" {
		base = c.cfg.discoveryURL
	}
	wellKnown := strings.TrimSuffix(base, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errConfig, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	if err != nil {
		return nil, fmt.Errorf("discovery: reading %s: %w", wellKnown, err)
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return nil, fmt.Errorf("discovery: %s answered %s", wellKnown, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: discovery: %s answered %s", errConfig, wellKnown, resp.Status)
	}
	var doc discoveryDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: discovery: %s is not a discovery document: %v", errConfig, wellKnown, err)
	}
	if err := c.checkIssuer(doc.Issuer); err != nil {
		return nil, fmt.Errorf("%w: discovery: %v", errConfig, err)
	}
	for _, u := range []struct{ name, v string }{{"authorization_endpoint", doc.AuthURL}, {"token_endpoint", doc.TokenURL}, {"jwks_uri", doc.JWKSURL}} {
		if err := upstream.CheckEndpoint(u.v); err != nil {
			return nil, fmt.Errorf("%w: discovery: %s: %v", errConfig, u.name, err)
		}
	}
	algs := slices.DeleteFunc(slices.Clone(doc.Algs), func(a string) bool { return !slices.Contains(goOIDCAlgs, a) })
	if len(doc.Algs) > 0 && len(algs) == 0 {
		return nil, fmt.Errorf("%w: discovery: no supported id_token signing algorithm in %q", errConfig, doc.Algs)
	}
	d := &discovered{issuer: doc.Issuer, userinfo: doc.UserInfoURL}
	d.endpoint = oauth2.Endpoint{AuthURL: doc.AuthURL, TokenURL: doc.TokenURL, AuthStyle: c.authStyle(doc.AuthMethods)}
	// The key set fetches with the connector's client (and so its timeout)
	// and refetches when a token names a key it does not have: the
	// upstream's key rotation needs nothing from us.
	keys := &keySet{remote: gooidc.NewRemoteKeySet(upstream.WithClient(context.Background(), c.client), doc.JWKSURL)}
	d.verifier = gooidc.NewVerifier(c.cfg.Issuer, keys, &gooidc.Config{
		ClientID:             c.cfg.ClientID,
		SupportedSigningAlgs: algs,
		// A multi-tenant issuer differs per token; verify checks it.
		SkipIssuerCheck: c.cfg.tenancy != nil,
	})
	if c.cfg.GetUserInfo && d.userinfo == "" {
		return nil, fmt.Errorf("%w: get_userinfo is set but discovery names no userinfo_endpoint", errConfig)
	}
	return d, nil
}

// checkIssuer compares the discovery document's issuer with the config's:
// exactly, or for a multi-tenant upstream against its template.
func (c *Connector) checkIssuer(iss string) error {
	if t := c.cfg.tenancy; t != nil {
		if !t.matchesDocument(iss) {
			return fmt.Errorf("issuer %q does not have the form %s{tenant}%s", upstream.Printable(iss, 200), t.prefix, t.suffix)
		}
		return nil
	}
	if iss != c.cfg.Issuer {
		return fmt.Errorf("the upstream calls itself %q, not %q as configured in issuer", upstream.Printable(iss, 200), c.cfg.Issuer)
	}
	return nil
}

// authStyle picks the token endpoint's client authentication.
func (c *Connector) authStyle(supported []string) oauth2.AuthStyle {
	m := c.cfg.TokenAuthMethod
	if m == "" {
		// Basic is the spec's default when discovery is silent.
		m = AuthBasic
		if len(supported) > 0 && !slices.Contains(supported, AuthBasic) && slices.Contains(supported, AuthPost) {
			m = AuthPost
		}
	}
	if m == AuthPost {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// provider returns the discovery result, reading it now if start-up could
// not: an upstream that was down when Portico started is used as soon as
// it answers, without a restart. Logins arriving together share one
// attempt, which is bounded by the timeout and outlives none of them by
// more than that.
func (c *Connector) provider(ctx context.Context) (*discovered, error) {
	c.mu.Lock()
	if c.disc != nil {
		defer c.mu.Unlock()
		return c.disc, nil
	}
	done := c.discovering
	if done == nil {
		done = make(chan struct{})
		c.discovering = done
		go c.rediscover(done)
	}
	c.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w: waiting for discovery: %v", c.cfg.kind, sdk.ErrUnavailable, ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.disc != nil {
		return c.disc, nil
	}
	return nil, fmt.Errorf("%s: %w: %v", c.cfg.kind, sdk.ErrUnavailable, c.discoveryErr)
}

// rediscover makes one discovery attempt for provider, then closes done.
func (c *Connector) rediscover(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.cfg.Timeout))
	defer cancel()
	d, err := c.discover(ctx)
	if err != nil {
		c.log.Warn(c.cfg.kind+": upstream discovery failed", "issuer", c.cfg.Issuer, "err", err)
	}
	c.mu.Lock()
	c.disc, c.discoveryErr, c.discovering = d, err, nil
	c.mu.Unlock()
	close(done)
}

// keySet is go-oidc's remote key set, noting when a verification failed
// because the keys could not be fetched (go-oidc reports that only as
// text), so an unreachable jwks_uri is "unavailable", not a forged token.
type keySet struct{ remote *gooidc.RemoteKeySet }

type fetchFailedKey struct{}

func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	p, err := k.remote.VerifySignature(ctx, jwt)
	if err != nil && !upstream.Unavailable(err) && !strings.Contains(err.Error(), "fetching keys") {
		// go-oidc hands a caller the result of a fetch already done when
		// its in-flight marker is not yet cleared: a token signed by a key
		// the upstream published just after that fetch (a rotation) is
		// then checked against the old keys. Once more, after that fetch
		// has surely ended, asks the upstream anew; a forged token costs
		// at most two fetches.
		p, err = k.remote.VerifySignature(ctx, jwt)
	}
	// "fetching keys" is go-oidc's prefix for a failed JWKS download; a
	// signature that does not verify with the fetched keys says otherwise.
	if err != nil && (upstream.Unavailable(err) || strings.Contains(err.Error(), "fetching keys")) {
		if flag, ok := ctx.Value(fetchFailedKey{}).(*bool); ok {
			*flag = true
		}
	}
	return p, err
}
