package broker_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// oidcClientDir holds the independent client of issue 25: openid-client
// v6, pinned by its package-lock.json (`make deps` runs npm ci there).
const oidcClientDir = "../testenv/oidcclient"

// nodeForOIDCClient returns node's path, or skips the test loudly (fails
// it under CI=true) when node or the installed openid-client is missing.
func nodeForOIDCClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	msg := ""
	switch {
	case err != nil:
		msg = "node is not installed: " + err.Error()
	default:
		if _, err := os.Stat(filepath.Join(oidcClientDir, "node_modules", "openid-client", "package.json")); err != nil {
			msg = "openid-client is not installed in testenv/oidcclient (run make deps): " + err.Error()
		}
	}
	if msg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the independent OAuth client must run: " + msg)
		}
		t.Skip("SKIPPED LOUDLY: " + msg)
	}
	return node
}

// TestIndependentClientPARJARDPoP is issue 25's acceptance 1: openid-client
// v6, which implements PAR, JAR and DPoP itself, completes a code flow
// against Portico with a fapi2 client (its request object pushed with a
// DPoP proof, private_key_jwt, PKCE, an ES256 id_token) and calls
// userinfo with the DPoP-bound access token. Again with server nonces
// (tokens.dpop.require_nonce): openid-client must then follow Portico's
// use_dpop_nonce answers to its first proofs: at /par (RFC 9449 §8) and,
// with a DPoP handle that has no nonce yet, at userinfo (§9).
func TestIndependentClientPARJARDPoP(t *testing.T) {
	node := nodeForOIDCClient(t)
	for _, nonces := range []bool{false, true} {
		name := "no nonces"
		if nonces {
			name = "server nonces"
		}
		t.Run(name, func(t *testing.T) {
			priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			pub := jose.JSONWebKey{Key: priv.Public(), KeyID: "fapi-k1", Algorithm: "ES256", Use: "sig"}
			raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
			if err != nil {
				t.Fatal(err)
			}
			var set map[string]any
			if err := json.Unmarshal(raw, &set); err != nil {
				t.Fatal(err)
			}
			cfg := testenv.Config(t)
			cfg.Tokens.DPoP.RequireNonce = nonces
			cfg.Tokens.SigningAlg = "ES256" // fapi2: access tokens too
			cfg.Clients = append(cfg.Clients, config.Client{
				ID: fapiClient, TokenEndpointAuthMethod: config.AuthPrivateKeyJWT, JWKS: set,
				RedirectURIs: []string{testenv.RedirectURI}, GrantTypes: []string{"authorization_code"},
				RequireSignedRequestObject: true, Profile: config.ProfileFAPI2, IDTokenSignedResponseAlg: "ES256",
			})
			b := testenv.Start(t, cfg)
			res := runOIDCClient(t, node, b, jose.JSONWebKey{Key: priv, KeyID: pub.KeyID, Algorithm: "ES256", Use: "sig"})

			// oauth4webapi lower-cases token_type; Portico sends "DPoP".
			if res.TokenType != "dpop" {
				t.Errorf("token_type %q, want DPoP", res.TokenType)
			}
			if res.AccessTokenJKT == nil || res.DPoPJKT == "" || *res.AccessTokenJKT != res.DPoPJKT {
				t.Errorf("access token cnf.jkt %v, want the client's DPoP key %q", res.AccessTokenJKT, res.DPoPJKT)
			}
			if res.IDTokenSub == "" || res.UserinfoSub != res.IDTokenSub {
				t.Errorf("userinfo sub %q, id_token sub %q", res.UserinfoSub, res.IDTokenSub)
			}
			if res.IDTokenAlg != "ES256" {
				t.Errorf("id_token alg %q, want ES256", res.IDTokenAlg)
			}
			if res.UserinfoEmail == nil || *res.UserinfoEmail != testenv.UserEmail {
				t.Errorf("userinfo email %v, want %q", res.UserinfoEmail, testenv.UserEmail)
			}
			// The nonce challenges happened (and were met): each endpoint's
			// refusals, as Portico's access log records them.
			want := map[string]int{}
			if nonces {
				want = map[string]int{"POST /par 400": 1, "GET /userinfo 401": 1}
			}
			if got := refusals(t, b.Logs()); !maps.Equal(got, want) {
				t.Errorf("refused requests %v, want %v", got, want)
			}
		})
	}
}

// oidcClientResult is what testenv/oidcclient/fapi.mjs reports.
type oidcClientResult struct {
	TokenType      string  `json:"token_type"`
	AccessTokenJKT *string `json:"access_token_jkt"`
	DPoPJKT        string  `json:"dpop_jkt"`
	IDTokenSub     string  `json:"id_token_sub"`
	IDTokenAlg     string  `json:"id_token_alg"`
	UserinfoSub    string  `json:"userinfo_sub"`
	UserinfoEmail  *string `json:"userinfo_email"`
}

// runOIDCClient runs fapi.mjs as fapiClient with the private key priv:
// the script prints the authorization URL, testenv's browser logs alice
// in, and the script gets the callback URL back and reports.
func runOIDCClient(t *testing.T, node string, b *testenv.Broker, priv jose.JSONWebKey) oidcClientResult {
	t.Helper()
	privJWK, err := json.Marshal(priv)
	if err != nil {
		t.Fatal(err)
	}
	// A bound for liveness only: node starts, discovers, pushes and
	// redeems in about a second on an idle machine.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "fapi.mjs", b.URL, fapiClient, testenv.RedirectURI)
	cmd.Dir = oidcClientDir
	cmd.Env = append(os.Environ(), "OIDC_CLIENT_JWK="+string(privJWK))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdoutPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdout := bufio.NewReader(stdoutPipe)
	// failed reports how the client ended, with what it said on stderr
	// (openid-client's error code and Portico's answer) and Portico's log.
	failed := func(what string, err error) {
		t.Helper()
		stdin.Close()
		io.Copy(io.Discard, stdout)
		werr := cmd.Wait()
		t.Fatalf("%s: %v; node: %v\n%s\nPortico's log:\n%s", what, err, werr, stderr.String(), b.Logs())
	}

	authURL, err := stdout.ReadString('\n')
	if err != nil {
		failed("no authorization URL from the client", err)
	}
	authURL = strings.TrimSpace(authURL)
	if !strings.HasPrefix(authURL, b.URL+"/authorize?") || !strings.Contains(authURL, "request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A") {
		failed("authorization URL "+authURL, errors.New("not a pushed request's URL at Portico's /authorize"))
	}
	cb, err := newRP(t, b).Authorize(ctx, authURL, testenv.UserName, testenv.UserPassword)
	if err != nil || cb.Query.Get("code") == "" {
		failed("login", fmt.Errorf("%v: no code; status %d, query %v, page %.300s", err, cb.Status, cb.Query, cb.Page))
	}
	if _, err := io.WriteString(stdin, testenv.RedirectURI+"?"+cb.Query.Encode()+"\n"); err != nil {
		failed("callback to the client", err)
	}
	line, err := stdout.ReadString('\n')
	if err != nil {
		failed("no result from the client", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var res oidcClientResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("client's result %q: %v", line, err)
	}
	t.Logf("openid-client: %s", strings.TrimSpace(line))
	return res
}

// refusals counts the requests in Portico's access log (logs) that were
// answered with a 4xx or 5xx status, by "METHOD path status".
func refusals(t *testing.T, logs string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, line := range strings.Split(logs, "\n") {
		var e struct {
			Msg, Method, Path string
			Status            int
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "request" || e.Status < 400 {
			continue
		}
		n[fmt.Sprintf("%s %s %d", e.Method, e.Path, e.Status)]++
	}
	return n
}
