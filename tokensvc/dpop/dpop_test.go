package dpop_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/portico-idp/portico/tokensvc/dpop"
)

var t0 = time.Unix(1_800_000_000, 0)

const tokenURL = "https://id.example.com/token"

// prover signs proofs as a client would.
type prover struct {
	key crypto.Signer
	alg jose.SignatureAlgorithm
}

func newProver(t testing.TB, alg jose.SignatureAlgorithm) prover {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, k, err = ed25519.GenerateKey(rand.Reader)
	case jose.RS256, jose.PS256:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return prover{key: k, alg: alg}
}

func (p prover) jkt(t testing.TB) string {
	s, err := dpop.Thumbprint(&jose.JSONWebKey{Key: p.key.Public()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sign makes a proof with claims; hdr adds or replaces header fields.
func (p prover) sign(t testing.TB, claims map[string]any, hdr map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(dpop.Type)
	for k, v := range hdr {
		opts = opts.WithHeader(k, v)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: p.alg, Key: p.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := sg.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func claims(now time.Time, jti string) map[string]any {
	return map[string]any{"jti": jti, "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
}

func with(c map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range c {
		out[kk] = vv
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func verifier(now *time.Time) *dpop.Verifier {
	clock := func() time.Time { return *now }
	return &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, func() time.Time { return t0.Add(-time.Hour) }), Now: clock}
}

// raw assembles a compact JWS from JSON parts and a signature, for the
// shapes a signer will not make.
func raw(header, payload string, sig []byte) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(payload)) + "." + e(sig)
}

func TestVerify(t *testing.T) {
	es := newProver(t, jose.ES256)
	other := newProver(t, jose.ES256)
	now := t0
	base := claims(now, "j")
	esJWK, _ := json.Marshal(jose.JSONWebKey{Key: es.key.Public()})
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: es.key})
	const tok = "an-access-token"
	cases := []struct {
		name    string
		headers func() []string
		req     dpop.Request
		want    error  // nil: accepted
		msg     string // in the error
	}{
		{"es256", func() []string { return []string{es.sign(t, base, nil)} }, dpop.Request{}, nil, ""},
		{"eddsa", func() []string { return []string{newProver(t, jose.EdDSA).sign(t, base, nil)} }, dpop.Request{}, nil, ""},
		{"rs256", func() []string { return []string{newProver(t, jose.RS256).sign(t, base, nil)} }, dpop.Request{}, nil, ""},
		{"ps256", func() []string { return []string{newProver(t, jose.PS256).sign(t, base, nil)} }, dpop.Request{}, nil, ""},
		{"none", func() []string { return nil }, dpop.Request{}, dpop.ErrNoProof, ""},
		{"two headers", func() []string { return []string{es.sign(t, base, nil), es.sign(t, with(base, "jti", "k"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "more than one"},
		{"too long", func() []string { return []string{strings.Repeat("a", dpop.MaxProofLen+1)} }, dpop.Request{}, dpop.ErrInvalidProof, "longer"},
		{"not jws", func() []string { return []string{"abc"} }, dpop.Request{}, dpop.ErrInvalidProof, "compact JWS"},
		{"jwe shape", func() []string { return []string{"a.b.c.d.e"} }, dpop.Request{}, dpop.ErrInvalidProof, "compact JWS"},
		{"alg none", func() []string {
			return []string{raw(`{"typ":"dpop+jwt","alg":"none","jwk":`+string(esJWK)+`}`, `{"jti":"x","htm":"POST","htu":"`+tokenURL+`","iat":1800000000}`, nil)}
		}, dpop.Request{}, dpop.ErrInvalidProof, "supported algorithm"},
		{"alg HS256", func() []string {
			return []string{raw(`{"typ":"dpop+jwt","alg":"HS256","jwk":`+string(esJWK)+`}`, `{"jti":"x","htm":"POST","htu":"`+tokenURL+`","iat":1800000000}`, []byte("sig"))}
		}, dpop.Request{}, dpop.ErrInvalidProof, "supported algorithm"},
		{"wrong typ", func() []string { return []string{es.sign(t, base, map[jose.HeaderKey]any{"typ": "JWT"})} }, dpop.Request{}, dpop.ErrInvalidProof, "typ"},
		{"typ as a full media type", func() []string {
			return []string{es.sign(t, base, map[jose.HeaderKey]any{"typ": "application/dpop+jwt"})}
		}, dpop.Request{}, nil, ""},
		{"no jwk", func() []string {
			sg, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: es.key}, (&jose.SignerOptions{}).WithType(dpop.Type))
			b, _ := json.Marshal(base)
			j, _ := sg.Sign(b)
			s, _ := j.CompactSerialize()
			return []string{s}
		}, dpop.Request{}, dpop.ErrInvalidProof, "jwk"},
		{"private jwk", func() []string {
			return []string{raw(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(privJWK)+`}`, `{"jti":"x","htm":"POST","htu":"`+tokenURL+`","iat":1800000000}`, make([]byte, 64))}
		}, dpop.Request{}, dpop.ErrInvalidProof, ""},
		{"small rsa", func() []string {
			return []string{prover{key: rsaSmall, alg: jose.RS256}.sign(t, base, nil)}
		}, dpop.Request{}, dpop.ErrInvalidProof, "2048"},
		{"other key's signature", func() []string {
			s := es.sign(t, base, nil)
			o := other.sign(t, base, nil)
			return []string{s[:strings.LastIndex(s, ".")] + o[strings.LastIndex(o, "."):]}
		}, dpop.Request{}, dpop.ErrInvalidProof, "signature"},
		{"iat string", func() []string { return []string{es.sign(t, with(base, "iat", "1800000000"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "cannot be read"},
		{"jti number", func() []string { return []string{es.sign(t, with(base, "jti", 5), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "cannot be read"},
		{"no jti", func() []string { return []string{es.sign(t, with(base, "jti", nil), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "must have"},
		{"empty jti", func() []string { return []string{es.sign(t, with(base, "jti", ""), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "must have"},
		{"long jti", func() []string { return []string{es.sign(t, with(base, "jti", strings.Repeat("j", 257)), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "jti"},
		{"no htm", func() []string { return []string{es.sign(t, with(base, "htm", nil), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "must have"},
		{"no htu", func() []string { return []string{es.sign(t, with(base, "htu", nil), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "must have"},
		{"no iat", func() []string { return []string{es.sign(t, with(base, "iat", nil), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "must have"},
		{"wrong htm", func() []string { return []string{es.sign(t, with(base, "htm", "GET"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "htm"},
		{"lower-case htm", func() []string { return []string{es.sign(t, with(base, "htm", "post"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "htm"},
		{"wrong htu path", func() []string {
			return []string{es.sign(t, with(base, "htu", "https://id.example.com/userinfo"), nil)}
		}, dpop.Request{}, dpop.ErrInvalidProof, "htu"},
		{"wrong htu host", func() []string { return []string{es.sign(t, with(base, "htu", "https://evil.example.com/token"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "htu"},
		{"htu http for https", func() []string { return []string{es.sign(t, with(base, "htu", "http://id.example.com/token"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "htu"},
		{"htu normalised", func() []string {
			return []string{es.sign(t, with(base, "htu", "HTTPS://ID.example.com:443/tok%65n?x=1#f"), nil)}
		}, dpop.Request{}, nil, ""},
		{"htu with %2F for /", func() []string { return []string{es.sign(t, with(base, "htu", "https://id.example.com/a%2Fb"), nil)} }, dpop.Request{URL: "https://id.example.com/a/b"}, dpop.ErrInvalidProof, "htu"},
		{"htu with %7e for ~", func() []string { return []string{es.sign(t, with(base, "htu", "https://id.example.com/%7ea"), nil)} }, dpop.Request{URL: "https://id.example.com/~a"}, nil, ""},
		{"jwk for encryption", func() []string {
			j := jose.JSONWebKey{Key: es.key.Public(), Use: "enc"}
			return []string{es.sign(t, base, map[jose.HeaderKey]any{"jwk": j})}
		}, dpop.Request{}, dpop.ErrInvalidProof, "use or alg"},
		{"jwk of another alg", func() []string {
			j := jose.JSONWebKey{Key: es.key.Public(), Algorithm: "ES384"}
			return []string{es.sign(t, base, map[jose.HeaderKey]any{"jwk": j})}
		}, dpop.Request{}, dpop.ErrInvalidProof, "use or alg"},
		{"htu relative", func() []string { return []string{es.sign(t, with(base, "htu", "/token"), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "htu"},
		{"stale iat", func() []string { return []string{es.sign(t, with(base, "iat", now.Add(-61*time.Second).Unix()), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "iat"},
		{"future iat", func() []string { return []string{es.sign(t, with(base, "iat", now.Add(61*time.Second).Unix()), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "iat"},
		{"iat inside window", func() []string { return []string{es.sign(t, with(base, "iat", now.Add(-59*time.Second).Unix()), nil)} }, dpop.Request{}, nil, ""},
		{"iat a little ahead", func() []string { return []string{es.sign(t, with(base, "iat", now.Add(dpop.MaxFuture).Unix()), nil)} }, dpop.Request{}, nil, ""},
		{"iat too far ahead", func() []string {
			return []string{es.sign(t, with(base, "iat", now.Add(dpop.MaxFuture+time.Second).Unix()), nil)}
		}, dpop.Request{}, dpop.ErrInvalidProof, "ahead"},
		{"huge iat", func() []string { return []string{es.sign(t, with(base, "iat", 1e300), nil)} }, dpop.Request{}, dpop.ErrInvalidProof, "iat"},
		{"ath ok", func() []string { return []string{es.sign(t, with(base, "ath", dpop.ATH(tok)), nil)} }, dpop.Request{AccessToken: tok}, nil, ""},
		{"ath missing", func() []string { return []string{es.sign(t, base, nil)} }, dpop.Request{AccessToken: tok}, dpop.ErrInvalidProof, "ath"},
		{"ath of another token", func() []string { return []string{es.sign(t, with(base, "ath", dpop.ATH("other")), nil)} }, dpop.Request{AccessToken: tok}, dpop.ErrInvalidProof, "ath"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := verifier(&now)
			req := tc.req
			req.Method = "POST"
			if req.URL == "" {
				req.URL = tokenURL
			}
			p, err := v.Verify(context.Background(), tc.headers(), req)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !dpop.ValidJKT(p.JKT) || p.JTI == "" {
					t.Fatalf("proof %+v", p)
				}
				return
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

func TestVerifyKeyAndReplay(t *testing.T) {
	now := t0
	v := verifier(&now)
	es, other := newProver(t, jose.ES256), newProver(t, jose.ES256)
	req := dpop.Request{Method: "POST", URL: tokenURL}
	proof := es.sign(t, claims(now, "once"), nil)
	p, err := v.Verify(context.Background(), []string{proof}, req)
	if err != nil || p.JKT != es.jkt(t) {
		t.Fatalf("proof %+v err %v; want jkt %s", p, err, es.jkt(t))
	}
	if _, err := v.Verify(context.Background(), []string{proof}, req); !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replay: %v", err)
	}
	// Another key may use the same jti: uniqueness is per key.
	if _, err := v.Verify(context.Background(), []string{other.sign(t, claims(now, "once"), nil)}, req); err != nil {
		t.Fatalf("other key, same jti: %v", err)
	}
	// Still a replay near the end of the window, after a generation turned.
	now = t0.Add(50 * time.Second)
	if _, err := v.Verify(context.Background(), []string{proof}, req); err == nil {
		t.Fatal("replay accepted later in the window")
	}
}

func TestMemoryReplay(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	m := dpop.NewMemoryReplay(time.Minute, 2, clock)
	ctx := context.Background()
	use := func(k string, iat time.Time) (bool, error) { return m.Use(ctx, k, iat, iat.Add(2*time.Minute)) }
	if fresh, err := use("before-start", t0.Add(-time.Second)); fresh || !errors.Is(err, dpop.ErrBeforeStart) {
		t.Fatalf("a proof issued before the cache started: %v %v", fresh, err)
	}
	now = t0.Add(time.Second)
	if fresh, err := use("a", now); !fresh || err != nil {
		t.Fatalf("a: %v %v", fresh, err)
	}
	if fresh, _ := use("a", now); fresh {
		t.Fatal("a twice")
	}
	if fresh, err := use("b", now); !fresh || err != nil {
		t.Fatalf("b: %v %v", fresh, err)
	}
	if _, err := use("c", now); !errors.Is(err, dpop.ErrReplayFull) {
		t.Fatalf("full: %v", err)
	}
	// A proof seen with its iat MaxFuture ahead is accepted until a
	// lifetime after that iat: its key must still be known then.
	now = t0.Add(time.Second + dpop.MaxFuture + time.Minute)
	if fresh, _ := use("a", t0.Add(time.Second+dpop.MaxFuture)); fresh {
		t.Fatal("a forgotten while a proof with its iat could be accepted")
	}
	// Long idle: everything old is gone, new keys fit again.
	now = t0.Add(time.Hour)
	for _, k := range []string{"x", "y"} {
		if fresh, err := use(k, now); !fresh || err != nil {
			t.Fatalf("%s after idle: %v %v", k, fresh, err)
		}
	}
}

func TestNonces(t *testing.T) {
	now := t0
	clock := func() time.Time { return now }
	key := []byte("0123456789abcdef0123456789abcdef")
	n := dpop.NewNonces(key, time.Minute, clock)
	cur := n.Current()
	if !n.Valid(cur) {
		t.Fatal("current nonce invalid")
	}
	if dpop.NewNonces([]byte("another key, another replica set"), time.Minute, clock).Valid(cur) {
		t.Fatal("a nonce of another key accepted")
	}
	now = now.Add(time.Minute)
	if !n.Valid(cur) {
		t.Fatal("the previous slot's nonce refused")
	}
	now = now.Add(time.Minute)
	if n.Valid(cur) {
		t.Fatal("a nonce two slots old accepted")
	}
	for _, bad := range []string{"", "x", strings.Repeat("A", 32), cur[:31] + "!"} {
		if n.Valid(bad) {
			t.Fatalf("%q accepted", bad)
		}
	}

	// In a proof: missing or stale nonce asks for one; the current passes.
	now = t0
	es := newProver(t, jose.ES256)
	v := verifier(&now)
	v.Nonces = n
	req := dpop.Request{Method: "POST", URL: tokenURL}
	if _, err := v.Verify(context.Background(), []string{es.sign(t, claims(now, "n1"), nil)}, req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("no nonce: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{es.sign(t, with(claims(now, "n2"), "nonce", "stale"), nil)}, req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("bad nonce: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{es.sign(t, with(claims(now, "n3"), "nonce", n.Current()), nil)}, req); err != nil {
		t.Fatalf("current nonce: %v", err)
	}
}

func TestChallenge(t *testing.T) {
	v := &dpop.Verifier{Algs: []string{"ES256", "EdDSA"}}
	got := v.Challenge("portico", "invalid_dpop_proof", `bad "quote"`)
	want := `DPoP realm="portico", error="invalid_dpop_proof", error_description="bad 'quote'", algs="ES256 EdDSA"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func FuzzVerify(f *testing.F) {
	es := newProver(f, jose.ES256)
	f.Add(es.sign(f, claims(t0, "seed"), nil))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	now := t0
	f.Fuzz(func(t *testing.T, s string) {
		v := verifier(&now)
		p, err := v.Verify(context.Background(), []string{s}, dpop.Request{Method: "POST", URL: tokenURL, AccessToken: "t"})
		if err == nil && !dpop.ValidJKT(p.JKT) {
			t.Fatalf("accepted with jkt %q", p.JKT)
		}
	})
}

// TestProver: a Prover's proofs pass the Verifier for every key type it
// takes, carry its thumbprint, ath and nonce, and leave out the query.
func TestProver(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, k := range []crypto.Signer{ec, ed, rk} {
		p, err := dpop.NewProver(k)
		if err != nil {
			t.Fatal(err)
		}
		now := t0
		n := dpop.NewNonces([]byte("k"), time.Minute, func() time.Time { return now })
		v := verifier(&now)
		v.Nonces = n
		proof, err := p.Proof("GET", tokenURL+"?q=1", dpop.ProofOptions{AccessToken: "tok", Nonce: n.Current(), IssuedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(context.Background(), []string{proof}, dpop.Request{Method: "GET", URL: tokenURL, AccessToken: "tok"})
		if err != nil || got.JKT != p.JKT {
			t.Errorf("%T: %v, jkt %s want %s", k, err, got.JKT, p.JKT)
		}
	}
	if _, err := dpop.NewProver(ecdsaP224(t)); err == nil {
		t.Error("a P-224 key was taken")
	}
}

func ecdsaP224(t *testing.T) crypto.Signer {
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestVerifyBeforeStart: a proof made before a fresh replay cache started
// is refused with a reason the client can act on, not as a server error.
func TestVerifyBeforeStart(t *testing.T) {
	now := t0
	v := &dpop.Verifier{Replay: dpop.NewMemoryReplay(0, 0, func() time.Time { return t0 }), Now: func() time.Time { return now }}
	es := newProver(t, jose.ES256)
	req := dpop.Request{Method: "POST", URL: tokenURL}
	_, err := v.Verify(context.Background(), []string{es.sign(t, claims(t0.Add(-2*time.Second), "old"), nil)}, req)
	if !errors.Is(err, dpop.ErrInvalidProof) || !strings.Contains(err.Error(), "before the server started") {
		t.Fatalf("old proof: %v", err)
	}
	if _, err := v.Verify(context.Background(), []string{es.sign(t, claims(t0, "new"), nil)}, req); err != nil {
		t.Fatalf("a proof of the start second: %v", err)
	}
}
