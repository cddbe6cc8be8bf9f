package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/go-jose/go-jose/v4"
)

// Token endpoint authentication methods (RFC 7591 §2, OpenID Connect
// Core §9).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthSecretJWT     = "client_secret_jwt"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"
)

// AuthMethods are the token_endpoint_auth_method values Portico takes.
var AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthSecretJWT, AuthPrivateKeyJWT, AuthNone}

// Algorithms a client assertion may be signed with: asymmetric ones for
// private_key_jwt, HMAC for client_secret_jwt. Never "none", and never one
// family with the other's key (RFC 8725 §3.1, §3.2).
var (
	PrivateKeyJWTAlgs = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
	SecretJWTAlgs     = []string{"HS256", "HS384", "HS512"}
)

// Bounds of a client's JWK Set, inline or fetched from its jwks_uri.
const (
	MaxJWKSBytes = 64 << 10
	MaxJWKSKeys  = 20
	// MinJWTSecretBytes: an HS256 key has at least 256 bits (RFC 7518
	// §3.2); HS384 and HS512 need 48 and 64 bytes.
	MinJWTSecretBytes = 32
	minRSABits        = 2048
	maxJWKSURILength  = 2000
)

// AuthMethodUsesSecret reports whether a client of method m holds a
// client secret (the empty method is the old default, a secret).
func AuthMethodUsesSecret(m string) bool {
	return m == "" || m == AuthSecretBasic || m == AuthSecretPost || m == AuthSecretJWT
}

// CheckSignedRequestObjects returns what is wrong with requiring signed
// request objects (require_signed_request_object) of a client that
// authenticates by method, or "": the objects are verified with the
// client's keys, which only a private_key_jwt client has. The file, the
// admin API and dynamic registration apply it.
func CheckSignedRequestObjects(method string, require bool) string {
	if require && method != AuthPrivateKeyJWT {
		return "needs token_endpoint_auth_method private_key_jwt: request objects are verified with the client's jwks or jwks_uri"
	}
	return ""
}

// validateClientAuth checks a client's token_endpoint_auth_method, jwks and
// jwks_uri against each other and its secret.
func validateClientAuth(v *validator, p string, cl Client) {
	m := cl.TokenEndpointAuthMethod
	switch {
	case m == "":
	case !slices.Contains(AuthMethods, m):
		v.add(p+".token_endpoint_auth_method", "unsupported method %q (supported: client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, none)", m)
	case m == AuthNone && !cl.Public:
		v.add(p+".token_endpoint_auth_method", "none is for a public client (public: true)")
	case m != AuthNone && cl.Public:
		v.add(p+".token_endpoint_auth_method", "a public client authenticates with none")
	}
	switch {
	case m == AuthSecretJWT && cl.Secret == "" && cl.SecretHash != "":
		v.add(p+".secret_hash", "client_secret_jwt needs secret in clear: the server verifies the HMAC with it")
	case m == AuthSecretJWT && cl.Secret != "" && len(cl.Secret) < MinJWTSecretBytes:
		v.add(p+".secret", "client_secret_jwt needs a secret of at least %d bytes (HS256)", MinJWTSecretBytes)
	case m == AuthPrivateKeyJWT && (cl.Secret != "" || cl.SecretHash != ""):
		v.add(p+".secret", "a private_key_jwt client authenticates with its keys, not a secret")
	}
	switch {
	case m == AuthPrivateKeyJWT && cl.JWKS == nil && cl.JWKSURI == "":
		v.add(p+".jwks", "private_key_jwt needs jwks or jwks_uri")
	case m != AuthPrivateKeyJWT && cl.JWKS != nil:
		v.add(p+".jwks", "only for token_endpoint_auth_method private_key_jwt")
	case m != AuthPrivateKeyJWT && cl.JWKSURI != "":
		v.add(p+".jwks_uri", "only for token_endpoint_auth_method private_key_jwt")
	case cl.JWKS != nil && cl.JWKSURI != "":
		v.add(p+".jwks_uri", "set only one of jwks and jwks_uri")
	}
	if cl.JWKS != nil {
		raw, err := json.Marshal(cl.JWKS)
		msg := "not a JSON object"
		if err == nil {
			msg = CheckJWKS(raw)
		}
		if msg != "" {
			v.add(p+".jwks", "%s", msg)
		}
	}
	if cl.JWKSURI != "" {
		if msg := CheckJWKSURI(cl.JWKSURI); msg != "" {
			v.add(p+".jwks_uri", "%s", msg)
		}
	}
	if msg := CheckSignedRequestObjects(m, cl.RequireSignedRequestObject); msg != "" {
		v.add(p+".require_signed_request_object", "%s", msg)
	}
	if msg := CheckProfile(cl.Profile, m, cl.Public, cl.GrantTypes); msg != "" {
		v.add(p+".profile", "%s", msg)
	}
}

// ProfileFAPI2 is the FAPI 2.0 Security Profile's client profile.
const ProfileFAPI2 = "fapi2"

// FAPI2Algs are the signature algorithms FAPI 2.0 allows (§5.4.1).
var FAPI2Algs = []string{"PS256", "ES256", "EdDSA"}

// CheckProfileAlgs returns what is wrong with the algorithms a client's
// tokens are signed with for its profile, or "": its id_tokens' (its own
// id_token_signed_response_alg, or the server's) and its access tokens'
// (the server's signing_alg). FAPI 2.0 allows PS256, ES256 and EdDSA, of
// which Portico signs with the last two.
func CheckProfileAlgs(profile, clientAlg, serverAlg string) string {
	if profile != ProfileFAPI2 {
		return ""
	}
	if !slices.Contains(FAPI2Algs, serverAlg) {
		return "fapi2 needs access tokens signed with ES256 or EdDSA: set tokens.signing_alg"
	}
	if clientAlg != "" && !slices.Contains(FAPI2Algs, clientAlg) {
		return "fapi2 needs id_tokens signed with ES256 or EdDSA: id_token_signed_response_alg " + clientAlg + " is not"
	}
	return ""
}

// CheckProfile returns what is wrong with a client's profile for its
// token_endpoint_auth_method, kind and grants, or "". FAPI 2.0 has
// confidential clients only, authenticated by private_key_jwt (mTLS is
// not offered), using the code flow. The file, the admin API and
// dynamic registration apply it.
func CheckProfile(profile, method string, public bool, grants []string) string {
	switch {
	case profile == "":
		return ""
	case profile != ProfileFAPI2:
		return fmt.Sprintf("unknown profile %q (supported: fapi2)", profile)
	case public:
		return "fapi2 is for confidential clients only"
	case method != AuthPrivateKeyJWT:
		return "fapi2 needs token_endpoint_auth_method private_key_jwt"
	case !slices.Contains(grants, GrantAuthorizationCode):
		return "fapi2 needs the authorization_code grant"
	}
	for _, g := range grants {
		// The device grant and token exchange reach a user's tokens
		// without the pushed, PKCE-bound request FAPI 2.0 is about.
		if !slices.Contains([]string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}, g) {
			return "fapi2 allows only the authorization_code, refresh_token and client_credentials grants, not " + g
		}
	}
	return ""
}

// CheckJWKSURI returns what is wrong with raw as a client's jwks_uri, or
// "": https, or plain http on a loopback host (a test or a sidecar).
func CheckJWKSURI(raw string) string {
	if len(raw) > maxJWKSURILength {
		return fmt.Sprintf("longer than %d characters", maxJWKSURILength)
	}
	if msg := checkURIChars(raw); msg != "" {
		return msg
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return "not an absolute URL"
	case u.User != nil:
		return "must not carry credentials"
	case u.Fragment != "" || u.RawFragment != "" || u.ForceQuery && u.RawQuery == "":
		return "must not have a fragment"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return ""
	}
	return "must be https (plain http only on " + loopbackHosts + ")"
}

// CheckJWKS returns what is wrong with raw as a client's inline JWK Set,
// or "": a JSON object whose keys are at most MaxJWKSKeys public signing
// keys Portico can verify with.
func CheckJWKS(raw []byte) string {
	if len(raw) > MaxJWKSBytes {
		return fmt.Sprintf("larger than %d KiB", MaxJWKSBytes>>10)
	}
	keys, msg := ParseJWKS(raw)
	if msg != "" {
		return msg
	}
	for i, k := range keys {
		if k.msg != "" {
			return fmt.Sprintf("keys[%d]: %s", i, k.msg)
		}
	}
	return ""
}

// JWK is one key of a JWK Set with what is wrong with it ("" when it can
// verify client assertions).
type JWK struct {
	Key jose.JSONWebKey
	msg string
}

// Usable reports whether k can verify client assertions.
func (k JWK) Usable() bool { return k.msg == "" }

// ParseJWKS decodes a JWK Set of at most MaxJWKSKeys keys, checking each
// key on its own (a set may hold keys of a kind Portico does not use).
func ParseJWKS(raw []byte) ([]JWK, string) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil || set.Keys == nil {
		return nil, "not a JWK Set (a JSON object with a keys list)"
	}
	switch {
	case len(set.Keys) == 0:
		return nil, "has no keys"
	case len(set.Keys) > MaxJWKSKeys:
		return nil, fmt.Sprintf("more than %d keys", MaxJWKSKeys)
	}
	out := make([]JWK, len(set.Keys))
	for i, r := range set.Keys {
		out[i].msg = checkJWK(r, &out[i].Key)
	}
	return out, ""
}

func checkJWK(raw json.RawMessage, k *jose.JSONWebKey) string {
	if err := k.UnmarshalJSON(raw); err != nil {
		return "not a valid JWK"
	}
	if !k.IsPublic() {
		return "must be a public key (no private or symmetric keys)"
	}
	if k.Use != "" && k.Use != "sig" {
		return "use must be sig"
	}
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		if pk.N.BitLen() < minRSABits {
			return fmt.Sprintf("an RSA key needs at least %d bits", minRSABits)
		}
	case *ecdsa.PublicKey:
		if pk.Curve != elliptic.P256() && pk.Curve != elliptic.P384() {
			return "an EC key must be on P-256 or P-384"
		}
	case ed25519.PublicKey:
	default:
		return "unsupported key type (RSA, EC P-256/P-384 or Ed25519)"
	}
	if k.Algorithm != "" && !KeyFitsAlg(*k, k.Algorithm) {
		return "alg " + fmt.Sprintf("%q", k.Algorithm) + " does not fit the key or is not supported"
	}
	return ""
}

// KeyFitsAlg reports whether the public key k may verify a signature of
// alg: the algorithm must be a private_key_jwt one of k's key type (and
// curve), and k's own alg, when set, must be alg.
func KeyFitsAlg(k jose.JSONWebKey, alg string) bool {
	if k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pk := k.Key.(type) {
	case *rsa.PublicKey:
		return slices.Contains([]string{"RS256", "RS384", "RS512", "PS256"}, alg)
	case *ecdsa.PublicKey:
		return (alg == "ES256" && pk.Curve == elliptic.P256()) || (alg == "ES384" && pk.Curve == elliptic.P384())
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
