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

// tokenRequest is a POST to /token authenticated with client_secret_basic.
func tokenRequest(ctx context.Context, b *testenv.Broker, form string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL+"/token", strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(testenv.ClientID), url.QueryEscape(testenv.ClientSecret))
	return req, nil
}

var accessTokenField = []byte(`"access_token":"`)

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
		var resp struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("POST /token: decoding the response: %w", err)
		}
		if resp.AccessToken == "" || resp.RefreshToken == "" {
			return fmt.Errorf("POST /token: 200 without access_token or refresh_token: %s", truncate(string(body), 100))
		}
		tokens[w] = resp.RefreshToken
		return nil
	}
}
