package main

// Side by side: the same load on Portico and on a peer, any OpenID
// Connect provider reachable at -peer-url (started by -peer-cmd if given),
// path by path, in alternating rounds, so that the machine's state weighs
// on both alike; the report is each path's ratio. Paths the peer does not
// offer (its discovery document says) are left out, as is refresh unless
// -peer-user lets the bench get the peer's refresh tokens by the password
// grant (the peer has to allow it; Portico's own come from its code flow).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/portico-idp/portico/tokensvc"
)

// peerOptions are the side-by-side flags.
type peerOptions struct {
	url, cmd, client, user string
	rounds                 int
}

// provider is one side: its discovery document and credentials.
type provider struct {
	name                                  string
	token, jwks, discovery, introspection string
	grants                                []string
	cl                                    creds
	refresh                               func(ctx context.Context, n int) ([]string, error)
}

func discover(ctx context.Context, c *http.Client, issuer string) (map[string]any, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	body, err := do(c, req)
	if err != nil {
		return nil, err
	}
	var d map[string]any
	if err := json.Unmarshal(body, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return d, nil
}

func newProvider(ctx context.Context, c *http.Client, name, issuer string, cl creds) (*provider, error) {
	d, err := discover(ctx, c, issuer)
	if err != nil {
		return nil, err
	}
	s := func(k string) string { v, _ := d[k].(string); return v }
	p := &provider{name: name, token: s("token_endpoint"), jwks: s("jwks_uri"), introspection: s("introspection_endpoint"),
		discovery: strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration", cl: cl}
	gs, _ := d["grant_types_supported"].([]any)
	for _, g := range gs {
		if s, ok := g.(string); ok {
			p.grants = append(p.grants, s)
		}
	}
	if p.token == "" || p.jwks == "" {
		return nil, fmt.Errorf("%s's discovery document lacks token_endpoint or jwks_uri", issuer)
	}
	return p, nil
}

// post is a form POST to u as p's client.
func (p *provider) post(ctx context.Context, u, form string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(p.cl.id), url.QueryEscape(p.cl.secret))
	return req, nil
}

func (p *provider) getOp(c *http.Client, u string) op {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err == nil && (len(body) == 0 || body[0] != '{') {
			err = fmt.Errorf("GET %s: 200 without a JSON object", u)
		}
		return err
	}
}

// tokenOp posts form to the token endpoint and wants an access token;
// next, if set, is given the answer (a refresh chain keeps its token).
func (p *provider) tokenOp(c *http.Client, form func(w int) string, next func(w int, rt string)) op {
	return func(ctx context.Context, w int) error {
		req, err := p.post(ctx, p.token, form(w))
		if err != nil {
			return err
		}
		body, err := do(c, req)
		if err != nil {
			return err
		}
		rt, ok := refreshTokenOf(body)
		if !bytes.Contains(body, accessTokenField) || next != nil && !ok {
			return fmt.Errorf("POST %s: 200 without the tokens: %s", p.token, truncate(string(body), 100))
		}
		if next != nil {
			next(w, rt)
		}
		return nil
	}
}

// passwordRefresh gets n refresh tokens by the password grant.
func (p *provider) passwordRefresh(c *http.Client, user string) func(context.Context, int) ([]string, error) {
	name, pw, _ := strings.Cut(user, ":")
	return func(ctx context.Context, n int) ([]string, error) {
		out := make([]string, n)
		for i := range out {
			form := url.Values{"grant_type": {"password"}, "username": {name}, "password": {pw}, "scope": {"openid offline_access"}}.Encode()
			req, err := p.post(ctx, p.token, form)
			if err != nil {
				return nil, err
			}
			body, err := do(c, req)
			if err != nil {
				return nil, fmt.Errorf("%s: password grant: %w", p.name, err)
			}
			var r struct {
				RefreshToken string `json:"refresh_token"`
			}
			if json.Unmarshal(body, &r) != nil || r.RefreshToken == "" {
				return nil, fmt.Errorf("%s: the password grant gave no refresh token: %s", p.name, truncate(string(body), 100))
			}
			out[i] = r.RefreshToken
		}
		return out, nil
	}
}

// startPeer runs cmd (through sh) and waits until issuer serves discovery.
func startPeer(ctx context.Context, c *http.Client, cmdline, issuer string) (func(), error) {
	cmd := exec.CommandContext(ctx, "sh", "-c", "exec "+cmdline)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() { cmd.Process.Kill(); cmd.Wait() }
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) { // a readiness wait
		if _, err := discover(ctx, c, issuer); err == nil {
			return stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("the peer did not serve %s's discovery within a minute", issuer)
		}
	}
}

// peerBench is -peer-url: each path on Portico (ES256) and on the peer.
func peerBench(ctx context.Context, o options, po peerOptions, out io.Writer) (int, error) {
	hc := newHTTPClient(o.workers)
	if po.cmd != "" {
		stop, err := startPeer(ctx, hc, po.cmd, po.url)
		if err != nil {
			return 1, err
		}
		defer stop()
	}
	id, secret, _ := strings.Cut(po.client, ":")
	peer, err := newProvider(ctx, hc, "peer", po.url, creds{id, secret})
	if err != nil {
		return 1, err
	}
	if po.user != "" {
		peer.refresh = peer.passwordRefresh(hc, po.user)
	}
	bs, err := newBrokers(o.workers, slog.New(slog.DiscardHandler))
	if err != nil {
		return 1, err
	}
	defer bs.close()
	b, err := bs.get(tokensvc.ES256)
	if err != nil {
		return 1, err
	}
	portico, err := newProvider(ctx, hc, "Portico", b.URL, appClient)
	if err != nil {
		return 1, err
	}
	portico.refresh = func(ctx context.Context, n int) ([]string, error) { return loginAll(ctx, b, n, o.sharedUser) }

	type path struct {
		name string
		mk   func(p *provider, c *http.Client) (op, error) // nil op: not offered
	}
	paths := []path{
		{"discovery", func(p *provider, c *http.Client) (op, error) { return p.getOp(c, p.discovery), nil }},
		{"jwks", func(p *provider, c *http.Client) (op, error) { return p.getOp(c, p.jwks), nil }},
		{"client_credentials", func(p *provider, c *http.Client) (op, error) {
			if !slices.Contains(p.grants, "client_credentials") {
				return nil, nil
			}
			form := url.Values{"grant_type": {"client_credentials"}}.Encode()
			return p.tokenOp(c, func(int) string { return form }, nil), nil
		}},
		{"refresh rotation", func(p *provider, c *http.Client) (op, error) {
			if p.refresh == nil {
				return nil, nil
			}
			rts, err := p.refresh(ctx, o.workers)
			if err != nil {
				return nil, err
			}
			form := func(w int) string {
				return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rts[w]}}.Encode()
			}
			return p.tokenOp(c, form, func(w int, rt string) { rts[w] = rt }), nil
		}},
	}
	fmt.Fprintf(out, "Side by side: Portico (ES256, Badger) and the peer at %s, %d rounds of %s each, alternating\n\n", po.url, po.rounds, o.dur)
	fmt.Fprintf(out, "%-20s %12s %12s %8s   %-19s %-19s\n", "path", "Portico/s", "peer/s", "ratio", "Portico p50/p99", "peer p50/p99")
	code := 0
	for _, pt := range paths {
		if o.only != nil && !o.only.MatchString(pt.name) {
			continue
		}
		var got [2][]result
		skip := ""
		for round := 0; round < po.rounds && skip == ""; round++ {
			for i, p := range []*provider{portico, peer} {
				c := newHTTPClient(o.workers)
				fn, err := pt.mk(p, c)
				switch {
				case err != nil:
					skip = fmt.Sprintf("%s: %v", p.name, err)
				case fn == nil:
					skip = p.name + " does not offer it"
				}
				if skip != "" {
					break
				}
				r := run(ctx, pt.name, o.workers, o.warmup, o.dur, fn, nil)
				c.CloseIdleConnections()
				if r.errors > 0 {
					code = 1
					skip = fmt.Sprintf("%s had %d errors: %s", p.name, r.errors, strings.Join(r.errorLines(), "; "))
				}
				got[i] = append(got[i], r)
			}
		}
		if skip != "" {
			fmt.Fprintf(out, "%-20s not compared: %s\n", pt.name, skip)
			continue
		}
		a, bb := mean(got[0]), mean(got[1])
		fmt.Fprintf(out, "%-20s %12.0f %12.0f %7.1f×   %-19s %-19s\n", pt.name, a.perSec(), bb.perSec(), a.perSec()/bb.perSec(),
			fmtDur(a.p50)+"/"+fmtDur(a.p99), fmtDur(bb.p50)+"/"+fmtDur(bb.p99))
	}
	return code, nil
}

// mean folds rounds into one result: operations over the summed window,
// the median round's latencies.
func mean(rs []result) result {
	if len(rs) == 0 {
		return result{}
	}
	m := rs[0]
	for _, r := range rs[1:] {
		m.ops += r.ops
		m.elapsed += r.elapsed
	}
	slices.SortFunc(rs, func(a, b result) int { return int(a.p50 - b.p50) })
	m.p50, m.p99 = rs[len(rs)/2].p50, rs[len(rs)/2].p99
	return m
}

var errNoPeer = errors.New("-peer-client is required with -peer-url")
