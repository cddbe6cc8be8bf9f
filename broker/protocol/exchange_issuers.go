package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/broker/config"
)

// External issuers for token exchange (RFC 8693; exchange.go): their keys
// fetched over HTTP, bounded in time and size, cached, fetched again on
// an unknown key id at most once per exchangeRefetch.

const (
	// maxExternalToken bounds a subject token from another issuer: a
	// Kubernetes or CI token is about 1 KB.
	maxExternalToken = 16 << 10
	// maxJWKSBytes bounds a JWKS or discovery document.
	maxJWKSBytes = 512 << 10
	// maxJWKSKeys bounds the keys kept of one issuer.
	maxJWKSKeys = 64
	// exchangeFetchTimeout bounds one fetch.
	exchangeFetchTimeout = 10 * time.Second
	// exchangeRefetch is the least time between two fetches of an
	// issuer's keys (an unknown kid asks again; forged kids must not make
	// Portico hammer the issuer), exchangeKeysMaxAge how long keys are used
	// before they are fetched again (a key the issuer withdrew goes).
	exchangeRefetch    = 30 * time.Second
	exchangeKeysMaxAge = time.Hour
	// exchangeLeeway tolerates clock skew with the issuer.
	exchangeLeeway = time.Minute
	// maxMappedSubject bounds a subject built from claims.
	maxMappedSubject = 255
)

// errExternalToken is a subject token that is not acceptable: its
// message is safe to return to the client.
type errExternalToken struct{ msg string }

func (e *errExternalToken) Error() string { return e.msg }

func badSubject(format string, args ...any) error {
	return &errExternalToken{msg: fmt.Sprintf(format, args...)}
}

// externalIssuer is one configured issuer and its keys.
type externalIssuer struct {
	cfg  config.ExchangeIssuer
	algs []jose.SignatureAlgorithm
	keys *remoteKeys
}

// exchangeIssuers are the configured issuers by iss.
type exchangeIssuers struct {
	byIss  map[string]*externalIssuer
	byName map[string]*externalIssuer
}

func newExchangeIssuers(list []config.ExchangeIssuer, client *http.Client) *exchangeIssuers {
	x := &exchangeIssuers{byIss: map[string]*externalIssuer{}, byName: map[string]*externalIssuer{}}
	for _, c := range list {
		is := &externalIssuer{cfg: c, keys: &remoteKeys{client: client, issuer: c.Issuer, jwksURI: c.JWKSURI}}
		for _, a := range c.Algorithms {
			is.algs = append(is.algs, jose.SignatureAlgorithm(a))
		}
		x.byIss[c.Issuer], x.byName[c.Name] = is, is
	}
	return x
}

// exchangeHTTPClient fetches keys: bounded in time, no cookies, and it
// follows no redirect (a JWKS URL is configured exactly).
func exchangeHTTPClient() *http.Client {
	return &http.Client{
		Timeout: exchangeFetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// peekIssuer reads the iss of an unverified JWS, only to choose whose keys
// verify it.
func peekIssuer(token string) (*jose.JSONWebSignature, string, error) {
	if len(token) > maxExternalToken || strings.Count(token, ".") != 2 {
		return nil, "", badSubject("the subject token is not a compact JWS")
	}
	jws, err := jose.ParseSignedCompact(token, exchangeAllAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, "", badSubject("the subject token is not a signed JWT")
	}
	var c struct {
		Iss any `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil {
		return nil, "", badSubject("the subject token's claims are not a JSON object")
	}
	iss, _ := c.Iss.(string)
	if iss == "" {
		return nil, "", badSubject("the subject token has no issuer")
	}
	return jws, iss, nil
}

var exchangeAllAlgs = func() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range config.ExchangeAlgorithms {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}()

// verify checks jws, a token is claims to be from, and returns its claims.
func (is *externalIssuer) verify(ctx context.Context, jws *jose.JSONWebSignature, now time.Time) (map[string]any, error) {
	h := jws.Signatures[0].Header
	if !slices.Contains(is.algs, jose.SignatureAlgorithm(h.Algorithm)) {
		return nil, badSubject("the subject token's algorithm %s is not accepted for this issuer", h.Algorithm)
	}
	keys, err := is.keys.get(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if p, err := jws.Verify(k.Key); err == nil {
			payload = p
			break
		}
	}
	if payload == nil {
		return nil, badSubject("the subject token's signature does not verify")
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return nil, badSubject("the subject token's claims are not a JSON object")
	}
	if iss, _ := claims["iss"].(string); iss != is.cfg.Issuer {
		return nil, badSubject("the subject token's issuer does not match")
	}
	if !audienceMatches(claims["aud"], is.cfg.Audiences) {
		return nil, badSubject("the subject token is not meant for this server (aud)")
	}
	exp, okExp := numericDate(claims["exp"])
	iat, okIat := numericDate(claims["iat"])
	switch {
	case !okExp || !okIat:
		return nil, badSubject("the subject token needs exp and iat")
	case !now.Before(exp.Add(exchangeLeeway)):
		return nil, badSubject("the subject token has expired")
	case iat.After(now.Add(exchangeLeeway)):
		return nil, badSubject("the subject token was issued in the future")
	case now.Sub(iat) > is.cfg.MaxTokenAge.Std():
		return nil, badSubject("the subject token is older than this issuer's max_token_age")
	}
	if nbf, ok := numericDate(claims["nbf"]); ok && nbf.After(now.Add(exchangeLeeway)) {
		return nil, badSubject("the subject token is not valid yet")
	} else if !ok && claims["nbf"] != nil {
		return nil, badSubject("the subject token's nbf is not a date")
	}
	for path, want := range is.cfg.RequiredClaims {
		v, ok := claimString(claims, path)
		if !ok || !slices.ContainsFunc(want, func(w string) bool { return claimValueMatches(w, v) }) {
			// The claim's name only: its value may be anything.
			return nil, badSubject("the subject token's claim %s is not an accepted value", path)
		}
	}
	return claims, nil
}

// audienceMatches reports whether aud (a string or a list of them) names
// one of want.
func audienceMatches(aud any, want []string) bool {
	switch a := aud.(type) {
	case string:
		return slices.Contains(want, a)
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok && slices.Contains(want, s) {
				return true
			}
		}
	}
	return false
}

// numericDate reads a JWT NumericDate (seconds, possibly fractional).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

func claimValueMatches(want, got string) bool {
	if p, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, p)
	}
	return want == got
}

// claimString finds the claim at path (segments split at "/", "~1" for a
// "/" and "~0" for a "~" in a name, as in JSON Pointer) and returns it as
// a string if it is a string or a number.
func claimString(claims map[string]any, path string) (string, bool) {
	var cur any = claims
	for seg := range strings.SplitSeq(path, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		if cur, ok = m[seg]; !ok {
			return "", false
		}
	}
	switch v := cur.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	}
	return "", false
}

// expandSubject fills a subject template's {path}s with claims.
//
// A value is escaped so that no two tokens map to one subject: '%' and
// the separators of the template's own text (its characters other than
// letters and digits, such as ':' or '/') become %XX, as in a URI. Otherwise {repo}:{sub} would map
// repo "a:x", sub "y" and repo "a", sub "x:y" both to "a:x:y".
func expandSubject(tmpl string, claims map[string]any) (string, error) {
	literal := templateText(tmpl)
	var b strings.Builder
	for rest := tmpl; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 { // config checked it; a broken one maps nothing
			return "", badSubject("the subject template is broken")
		}
		b.WriteString(rest[:i])
		path := rest[i+1 : i+j]
		v, ok := claimString(claims, path)
		if !ok || v == "" {
			return "", badSubject("the subject token lacks the claim %s the subject is made of", path)
		}
		b.WriteString(escapeClaim(v, literal))
		rest = rest[i+j+1:]
	}
	s := b.String()
	if s == "" || len(s) > maxMappedSubject || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", badSubject("the mapped subject is empty, longer than %d bytes or holds control characters", maxMappedSubject)
	}
	return s, nil
}

// templateText is the separators of tmpl's text outside its
// {placeholders}: the characters other than letters and digits.
func templateText(tmpl string) string {
	var b strings.Builder
	depth := 0
	for _, r := range tmpl {
		switch {
		case r == '{':
			depth++
		case r == '}' && depth > 0:
			depth--
		case depth == 0 && !unicode.IsLetter(r) && !unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// escapeClaim percent-encodes in v '%' and the runes of literal.
func escapeClaim(v, literal string) string {
	if !strings.ContainsAny(v, "%"+literal) {
		return v
	}
	var b strings.Builder
	for _, r := range v {
		if r == '%' || strings.ContainsRune(literal, r) {
			for _, c := range []byte(string(r)) {
				fmt.Fprintf(&b, "%%%02X", c)
			}
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// remoteKeys are an issuer's published keys.
type remoteKeys struct {
	client          *http.Client
	issuer, jwksURI string // jwksURI empty: discovered

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // of the last successful fetch
	triedAt   time.Time // of the last attempt
	failed    error     // of the last attempt, nil when it succeeded
}

// errIssuerUnavailable: the keys could not be fetched (a server problem,
// answered with "try again").
var errIssuerUnavailable = errors.New("the issuer's keys are unavailable")

// get returns the keys that may have signed with kid ("" for any).
func (r *remoteKeys) get(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	match := func() []jose.JSONWebKey {
		var out []jose.JSONWebKey
		for _, k := range r.keys {
			if kid == "" || k.KeyID == kid {
				out = append(out, k)
			}
		}
		return out
	}
	now := time.Now() // the fetch schedule, not a token's validity
	ks := match()
	stale := now.Sub(r.fetchedAt) > exchangeKeysMaxAge
	if (len(ks) > 0 && !stale) || now.Sub(r.triedAt) < exchangeRefetch {
		switch {
		case len(ks) > 0:
			return ks, nil
		case r.failed != nil:
			// The key may be in the set that could not be fetched: the
			// answer is "try again", as for the attempt that failed.
			return nil, fmt.Errorf("%w: %v", errIssuerUnavailable, r.failed)
		}
		return nil, badSubject("the subject token's signing key is unknown")
	}
	r.triedAt = now
	keys, err := r.fetch(ctx)
	r.failed = err
	if err != nil {
		if len(ks) > 0 { // the keys in hand still verify until it answers
			return ks, nil
		}
		return nil, fmt.Errorf("%w: %v", errIssuerUnavailable, err)
	}
	r.keys, r.fetchedAt = keys, now
	if ks = match(); len(ks) == 0 {
		return nil, badSubject("the subject token's signing key is unknown")
	}
	return ks, nil
}

func (r *remoteKeys) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	if r.jwksURI == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := getJSON(ctx, r.client, strings.TrimSuffix(r.issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, err
		}
		// OIDC Discovery §4.3: the document must name the issuer asked.
		if doc.Issuer != r.issuer {
			return nil, fmt.Errorf("discovery names issuer %q", doc.Issuer)
		}
		if msg := config.CheckFetchURL(doc.JWKSURI); msg != "" {
			return nil, fmt.Errorf("discovered jwks_uri: %s", msg)
		}
		r.jwksURI = doc.JWKSURI
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := getJSON(ctx, r.client, r.jwksURI, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		// A key Portico cannot use (unknown type, a secret key, one
		// not for signatures) is skipped, not the whole set.
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if _, secret := k.Key.([]byte); secret {
			continue
		}
		keys = append(keys, k.Public())
		if len(keys) == maxJWKSKeys {
			break
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the JWKS holds no usable key")
	}
	return keys, nil
}

// getJSON fetches url into v: 200 only, at most maxJWKSBytes.
func getJSON(ctx context.Context, client *http.Client, url string, v any) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("GET %s: larger than %d bytes", url, maxJWKSBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
