package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portico-idp/portico/testenv"
)

// newHTTPClient returns a keep-alive client whose pool holds a connection
// per worker, so that no request waits for a dial once warmed up.
func newHTTPClient(workers int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * workers,
		MaxIdleConnsPerHost: workers,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// maxBody bounds what is read of a response.
const maxBody = 1 << 20

// do sends req and returns the body of a 200; anything else is an error
// that carries the status and the start of the body.
func do(c *http.Client, req *http.Request) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading body: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, truncate(string(body), 200))
	}
	return body, nil
}

// getOp GETs path and expects a 200 with a JSON object.
func getOp(c *http.Client, b *testenv.Broker, path string) op {
	u := b.URL + path
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		if len(body) == 0 || body[0] != '{' {
			return fmt.Errorf("GET %s: 200 without a JSON object: %s", path, truncate(string(body), 100))
		}
		return nil
	}
}

// creds are a confidential client's id and secret.
type creds struct{ id, secret string }

// appClient is testenv's confidential client: JWT access tokens, the code
// flow and refresh. opaqueClient gets opaque access tokens; rsClient is a
// resource server that only introspects. See brokers.config.
var (
	appClient    = creds{testenv.ClientID, testenv.ClientSecret}
	opaqueClient = creds{"bench-opaque", "bench-opaque-secret"}
	rsClient     = creds{"bench-rs", "bench-rs-secret"}
)

// formRequest is a form POST to path authenticated as cl with
// client_secret_basic, as /token, /introspect and /revoke take it.
func formRequest(ctx context.Context, b *testenv.Broker, path string, cl creds, form string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+path, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cl.id), url.QueryEscape(cl.secret))
	return req, nil
}

// tokenRequest is a POST to /token as testenv's confidential client.
func tokenRequest(ctx context.Context, b *testenv.Broker, form string) (*http.Request, error) {
	return formRequest(ctx, b, "/token", appClient, form)
}

var (
	accessTokenField  = []byte(`"access_token":"`)
	refreshTokenField = []byte(`"refresh_token":"`)
)

// refreshTokenOf finds the refresh token in a token response without
// decoding all of it: the load generator shares the broker's cores, so
// what it spends is the broker's loss (a scan of the compact JSON both
// Portico and Dex write, and encoding/json when that finds nothing or an
// escape).
func refreshTokenOf(body []byte) (string, bool) {
	if _, rest, ok := bytes.Cut(body, refreshTokenField); ok {
		if v, _, ok := bytes.Cut(rest, []byte{'"'}); ok && len(v) > 0 && !bytes.ContainsRune(v, '\\') {
			return string(v), true
		}
	}
	var r struct {
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &r) != nil || r.RefreshToken == "" {
		return "", false
	}
	return r.RefreshToken, true
}

// clientCredentialsOp asks for a client_credentials token.
func clientCredentialsOp(c *http.Client, b *testenv.Broker) op {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()
	return func(ctx context.Context, _ int) error {
		req, err := tokenRequest(ctx, b, form)
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, accessTokenField) {
			return fmt.Errorf("POST /token: 200 without access_token: %s", truncate(string(body), 100))
		}
		return nil
	}
}

// clientCredentialsToken gets one client_credentials access token for cl.
func clientCredentialsToken(ctx context.Context, c *http.Client, b *testenv.Broker, cl creds) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()
	req, err := formRequest(ctx, b, "/token", cl, form)
	if err != nil {
		return "", err
	}
	body, err := do(c, req)
	if err != nil {
		return "", err
	}
	var resp struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", fmt.Errorf("POST /token: decoding the response: %w", err)
	}
	if resp.AccessToken == "" {
		return "", fmt.Errorf("POST /token: 200 without access_token: %s", truncate(string(body), 100))
	}
	return resp.AccessToken, nil
}

// revokeToken revokes an access token of cl's through /revoke.
func revokeToken(ctx context.Context, c *http.Client, b *testenv.Broker, cl creds, tok string) error {
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()
	req, err := formRequest(ctx, b, "/revoke", cl, form)
	if err != nil {
		return err
	}
	_, err = do(c, req)
	return err
}

var (
	activeTrue  = []byte(`{"active":true,`)
	activeFalse = []byte(`{"active":false}`)
)

// introspectOp introspects the tokens of pool as the resource server,
// each worker walking the pool from its own offset. With active, the
// answer must be an active token's (it starts {"active":true, since
// encoding/json sorts a map's keys); without, exactly {"active":false}.
// The forms are encoded beforehand, so that the load generator spends
// nothing on them.
func introspectOp(c *http.Client, b *testenv.Broker, pool []string, workers int, active bool) op {
	forms := make([]string, len(pool))
	for i, t := range pool {
		forms[i] = url.Values{"token": {t}}.Encode()
	}
	next := newCycler(len(pool), workers)
	return func(ctx context.Context, w int) error {
		req, err := formRequest(ctx, b, "/introspect", rsClient, forms[next(w)])
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		body = bytes.TrimSpace(body)
		switch {
		case active && !bytes.HasPrefix(body, activeTrue):
			return fmt.Errorf("POST /introspect: a live token not active: %s", truncate(string(body), 100))
		case !active && !bytes.Equal(body, activeFalse):
			return fmt.Errorf("POST /introspect: a revoked token not answered {\"active\": false}: %s", truncate(string(body), 100))
		}
		return nil
	}
}

// newCycler returns next(w): worker w's next index into a pool of n. The
// workers start spread over the pool, and each walks all of it.
func newCycler(n, workers int) func(w int) int {
	type counter struct {
		i int
		_ [56]byte // a cache line each: workers never share one
	}
	cs := make([]counter, workers)
	for w := range cs {
		cs[w].i = w * n / workers
	}
	return func(w int) int {
		c := &cs[w]
		i := c.i
		c.i = (i + 1) % n
		return i
	}
}

// refreshOp exchanges worker w's refresh token and keeps the new one, so
// that each worker walks its own rotation chain.
func refreshOp(c *http.Client, b *testenv.Broker, tokens []string) op {
	return func(ctx context.Context, w int) error {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens[w]}}.Encode()
		req, err := tokenRequest(ctx, b, form)
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		rt, ok := refreshTokenOf(body)
		if !ok || !bytes.Contains(body, accessTokenField) {
			return fmt.Errorf("POST /token: 200 without access_token or refresh_token: %s", truncate(string(body), 100))
		}
		tokens[w] = rt
		return nil
	}
}
