// Package dpop checks DPoP proofs (RFC 9449): the small JWT a client signs
// for each request to show that it holds the private key its tokens are
// bound to, so that a stolen access or refresh token is worth nothing
// without that key.
//
// It is the one place Portico parses proofs: the token endpoint and
// Portico's own protected endpoints use it, and so can a resource server
// (package rs wraps it in an http middleware). It keeps no state of its
// own: replay protection (each proof's jti is taken once) goes through a
// ReplayCache, which is memory for one process (MemoryReplay) or a shared
// store when several replicas must agree; server nonces (Nonces) are
// stateless, derived from a key every replica shares.
package dpop

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// HTTP names of RFC 9449.
const (
	// Header carries the proof (§4.1); Scheme is the Authorization scheme
	// of a bound access token (§7.1); NonceHeader carries a server nonce
	// (§8, §9).
	Header      = "DPoP"
	Scheme      = "DPoP"
	NonceHeader = "DPoP-Nonce"
	// Type is the typ header of every proof (§4.2).
	Type = "dpop+jwt"
)

// Limits on what is parsed at all. A proof with an RSA-4096 key and its
// signature is about 2 KB; the jti needs 96 bits of randomness (§4.2).
const (
	MaxProofLen = 8 << 10
	maxJTILen   = 256
	minRSABits  = 2048
)

// DefaultLifetime is how far in the past a proof's iat may be.
const DefaultLifetime = time.Minute

// MaxFuture is how far ahead of the server's clock a proof's iat may be:
// clock skew, kept short, since a proof dated ahead lives that much
// longer (a client whose clock is off by more uses server nonces).
const MaxFuture = 5 * time.Second

// Algs are the signature algorithms a proof may use: asymmetric only
// (§4.3 point 5), never none or HMAC.
var Algs = []string{"ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"}

var (
	// ErrNoProof: the request carries no DPoP header.
	ErrNoProof = errors.New("dpop: no proof")
	// ErrInvalidProof: the proof is malformed, badly signed, for another
	// request, too old or new, or replayed. Its message says which; it is
	// safe to return to the client (error invalid_dpop_proof).
	ErrInvalidProof = errors.New("invalid DPoP proof")
	// ErrUseNonce: the proof lacks the server's current nonce; answer
	// use_dpop_nonce with a fresh one (§8).
	ErrUseNonce = errors.New("the DPoP proof must carry the server's nonce")
	// ErrReplay: the proof was already used (it wraps ErrInvalidProof):
	// worth a security log line, since a proof travels with its request.
	ErrReplay = fmt.Errorf("%w: the proof was already used (jti)", ErrInvalidProof)
)

// Proof is a verified proof.
type Proof struct {
	// JKT is the JWK SHA-256 thumbprint (RFC 7638) of the proof's key,
	// base64url: what a bound token's cnf.jkt holds.
	JKT      string
	JTI      string
	IssuedAt time.Time
	Alg      string // the signature algorithm
}

// Request is the HTTP request a proof must be for.
type Request struct {
	Method string
	// URL is the absolute URL the client sent the request to; its query
	// and fragment are ignored (§4.3 point 9).
	URL string
	// AccessToken, when the request presents one, must be the proof's
	// ath (§4.3 point 12); empty at the token endpoint.
	AccessToken string
}

// ReplayCache remembers the proofs already taken. Use records key and
// reports whether it was new; the record must last until until, and be
// seen by every server that accepts the same proofs.
type ReplayCache interface {
	Use(ctx context.Context, key string, issued, until time.Time) (fresh bool, err error)
}

// Verifier checks proofs. Its zero values take the defaults noted.
type Verifier struct {
	Lifetime time.Duration // DefaultLifetime
	Algs     []string      // Algs; a narrower list for a stricter profile
	Replay   ReplayCache   // required
	// Nonces, if set, makes every proof carry a nonce it issued (§8).
	Nonces *Nonces
	Now    func() time.Time // time.Now
}

func (v *Verifier) now() time.Time {
	if v.Now == nil {
		return time.Now()
	}
	return v.Now()
}

func (v *Verifier) lifetime() time.Duration {
	if v.Lifetime <= 0 {
		return DefaultLifetime
	}
	return v.Lifetime
}

// SupportedAlgs are the algorithms v accepts, for discovery
// (dpop_signing_alg_values_supported) and for WWW-Authenticate's algs.
func (v *Verifier) SupportedAlgs() []string {
	if len(v.Algs) > 0 {
		return v.Algs
	}
	return Algs
}

// claims are a proof's payload, each checked for its type.
type claims struct {
	JTI   *string  `json:"jti"`
	HTM   *string  `json:"htm"`
	HTU   *string  `json:"htu"`
	IAT   *float64 `json:"iat"`
	ATH   *string  `json:"ath"`
	Nonce *string  `json:"nonce"`
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidProof, fmt.Sprintf(format, a...))
}

// Verify checks the proof among headers (every DPoP header value of the
// request) for r, as RFC 9449 §4.3 lists, and takes its jti. Errors are
// ErrNoProof, ErrInvalidProof or ErrUseNonce, wrapped with the reason, or
// the replay cache's own error (the server's problem, not the client's).
func (v *Verifier) Verify(ctx context.Context, headers []string, r Request) (Proof, error) {
	switch {
	case len(headers) == 0:
		return Proof{}, ErrNoProof
	case len(headers) > 1: // point 1
		return Proof{}, invalid("more than one DPoP header")
	case len(headers[0]) > MaxProofLen:
		return Proof{}, invalid("the proof is longer than %d bytes", MaxProofLen)
	case strings.Count(headers[0], ".") != 2:
		return Proof{}, invalid("the proof is not a compact JWS")
	}
	algs := make([]jose.SignatureAlgorithm, 0, len(v.SupportedAlgs()))
	for _, a := range v.SupportedAlgs() {
		algs = append(algs, jose.SignatureAlgorithm(a))
	}
	jws, err := jose.ParseSignedCompact(headers[0], algs)
	if err != nil {
		return Proof{}, invalid("the proof is not a JWS with a supported algorithm (%s) and a public jwk", strings.Join(v.SupportedAlgs(), ", "))
	}
	if len(jws.Signatures) != 1 {
		return Proof{}, invalid("the proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	// A media type may drop its "application/" (RFC 7515 §4.1.9).
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(strings.TrimPrefix(strings.ToLower(typ), "application/"), Type) {
		return Proof{}, invalid("the proof's typ must be %s", Type)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return Proof{}, invalid("the proof's header must carry the public key (jwk)")
	}
	if k, ok := jwk.Key.(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
		return Proof{}, invalid("the proof's RSA key is shorter than %d bits", minRSABits)
	}
	// A key that says it is for something else, or for another
	// algorithm, is not one to sign proofs with (RFC 7517 §4.2, §4.4).
	if jwk.Use != "" && jwk.Use != "sig" || jwk.Algorithm != "" && jwk.Algorithm != h.Algorithm {
		return Proof{}, invalid("the proof's jwk is not a signing key for %s (use or alg)", h.Algorithm)
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return Proof{}, invalid("the proof's signature does not verify with its jwk")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Proof{}, invalid("the proof's claims cannot be read: jti, htm, htu, ath and nonce must be strings, iat a number")
	}
	switch {
	case c.JTI == nil || *c.JTI == "" || c.HTM == nil || c.HTU == nil || c.IAT == nil:
		return Proof{}, invalid("the proof must have jti, htm, htu and iat")
	case len(*c.JTI) > maxJTILen:
		return Proof{}, invalid("the proof's jti is longer than %d bytes", maxJTILen)
	case *c.HTM != r.Method:
		return Proof{}, invalid("the proof's htm is not this request's method %s", r.Method)
	case !sameURI(*c.HTU, r.URL):
		return Proof{}, invalid("the proof's htu is not this request's URL %s", stripQuery(r.URL))
	}
	now, life := v.now(), v.lifetime()
	if math.IsNaN(*c.IAT) || math.IsInf(*c.IAT, 0) || *c.IAT < 0 || *c.IAT > 1<<40 {
		return Proof{}, invalid("the proof's iat is not a time")
	}
	iat := time.Unix(int64(*c.IAT), 0)
	if d := now.Sub(iat); d > life {
		return Proof{}, invalid("the proof's iat is more than %s in the past", life)
	} else if d < -MaxFuture {
		return Proof{}, invalid("the proof's iat is more than %s ahead of the server's time", MaxFuture)
	}
	if r.AccessToken != "" {
		if c.ATH == nil || subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(ATH(r.AccessToken))) != 1 {
			return Proof{}, invalid("the proof's ath is not the hash of the access token")
		}
	}
	if v.Nonces != nil && (c.Nonce == nil || !v.Nonces.Valid(*c.Nonce)) {
		return Proof{}, ErrUseNonce
	}
	jkt, err := Thumbprint(jwk)
	if err != nil {
		return Proof{}, invalid("the proof's key has no thumbprint")
	}
	// The key and jti together: jti need only be unique per key (§11.1),
	// and one client cannot spend another's jti.
	sum := sha256.Sum256([]byte(jkt + "\x00" + *c.JTI))
	fresh, err := v.Replay.Use(ctx, base64.RawURLEncoding.EncodeToString(sum[:]), iat, iat.Add(life+time.Minute))
	if errors.Is(err, ErrBeforeStart) {
		return Proof{}, invalid("the proof was made before the server started: send a fresh one")
	}
	if err != nil {
		return Proof{}, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !fresh {
		return Proof{}, ErrReplay
	}
	return Proof{JKT: jkt, JTI: *c.JTI, IssuedAt: iat, Alg: h.Algorithm}, nil
}

// Thumbprint is the base64url JWK SHA-256 thumbprint of k (RFC 7638).
func Thumbprint(k *jose.JSONWebKey) (string, error) {
	t, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(t), nil
}

// ATH is the ath claim for an access token: base64url SHA-256 (§4.2).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ValidJKT reports whether s has the form of a SHA-256 thumbprint: 43
// base64url characters (the dpop_jkt parameter, §10).
func ValidJKT(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// sameURI compares an htu with the request's URL after the syntax- and
// scheme-based normalisation of RFC 3986 §6.2.2–6.2.3 (§4.3): case of
// scheme and host, default ports, an empty path as "/", percent-encoding;
// query and fragment ignored.
func sameURI(htu, reqURL string) bool {
	a, okA := normalURI(htu)
	b, okB := normalURI(reqURL)
	return okA && okB && a == b
}

func normalURI(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" || u.Host == "" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "443" && scheme == "https" || port == "80" && scheme == "http" {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	path := normalPath(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// normalPath decodes percent-encoded unreserved characters and upper-cases
// the hex digits of the rest (RFC 3986 §6.2.2.1-2): %7e and ~ are one,
// but %2F stays apart from /, since they name different resources.
func normalPath(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' || i+2 >= len(p) {
			b.WriteByte(p[i])
			continue
		}
		hex := strings.ToUpper(p[i+1 : i+3])
		var c byte
		if _, err := fmt.Sscanf(hex, "%02X", &c); err != nil {
			b.WriteByte(p[i])
			continue
		}
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + hex)
		}
		i += 2
	}
	return b.String()
}

func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// Challenge is the WWW-Authenticate value of the DPoP scheme (§7.1):
// realm, then error and description if code is set, then algs.
func (v *Verifier) Challenge(realm, code, desc string) string {
	h := Scheme + ` realm="` + realm + `"`
	if code != "" {
		h += `, error="` + code + `", error_description="` + quoteSafe(desc) + `"`
	}
	return h + `, algs="` + strings.Join(v.SupportedAlgs(), " ") + `"`
}

// quoteSafe keeps a description inside its quoted-string.
func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '"' || r == '\\' || r < 0x20 || r == 0x7f {
			return '\''
		}
		return r
	}, s)
}

// NeedsNonce reports whether a request's proof (its DPoP header values)
// lacks a nonce v would take, judged without checking the proof. A server
// asks for the nonce before anything with a cost of its own, such as
// spending a client's single-use assertion, so that the client's retry
// with the nonce (§8) can send the same request again. False when v asks
// for no nonces or there is no single proof to judge.
func (v *Verifier) NeedsNonce(headers []string) bool {
	if v.Nonces == nil || len(headers) != 1 || len(headers[0]) > MaxProofLen {
		return false
	}
	parts := strings.Split(headers[0], ".")
	if len(parts) != 3 {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct {
		Nonce *string `json:"nonce"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return false
	}
	return c.Nonce == nil || !v.Nonces.Valid(*c.Nonce)
}
