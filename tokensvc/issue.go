package tokensvc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"reflect"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Claims are the facts about a user that tokens may carry. The broker
// decides which the granted scopes allow; empty fields are left out.
type Claims struct {
	Email             string
	EmailVerified     *bool
	Name              string
	PreferredUsername string
	Groups            []string
	// Extra are further id_token claims (roles, custom scopes' claims),
	// JSON-encodable. One named like a claim above or like one the token
	// service sets itself is ignored: Extra never overrides.
	Extra map[string]any
}

// Grant is what the broker asks tokens for.
type Grant struct {
	Subject  string // user id; the client id for client_credentials
	Username string // the user's username, for introspection
	ClientID string
	Scopes   []string
	// Audience are further audiences of the access token besides the
	// client (e.g. the admin API's); the id_token's audience is the
	// client alone.
	Audience []string
	// Resources are the resource servers (RFC 8707 resource indicators)
	// the access token is for: when set, they replace the client as its
	// audience, so that no other resource server accepts it.
	Resources []string
	// GrantedResources are the resources the session may ask tokens for
	// later, at refresh (stored in its family); Resources when nil.
	GrantedResources []string
	ConnectorID      string
	Nonce            string
	AuthTime         time.Time // zero for client_credentials
	AMR              []string
	Claims           Claims
	Policy           Policy

	IDToken bool // issue an id_token (the openid scope was granted)
	// Session records the login as a session (a refresh family) that the
	// tokens name, so that revoking it or logging out ends them all. Every
	// user login has one; client_credentials has none.
	Session bool
	Refresh bool // also start a refresh token chain (offline_access)

	// Ids chosen ahead by the caller (NewID), so it can record them before
	// the tokens exist: a replayed code revokes what was issued from it.
	FamilyID  string
	AccessJTI string

	// Token exchange (RFC 8693): Act names the party acting for Subject
	// (the act claim, §4.1); NotAfter, if set, ends the access token no
	// later than then (a narrower token never outlives the one it came
	// from). A grant with FamilyID but no Session names an existing
	// session, so that ending it ends this token too.
	Act      *Actor
	NotAfter time.Time

	// JKT binds the access token to a DPoP key (RFC 9449): its JWK
	// thumbprint goes in the token's cnf claim (or the opaque token's
	// record), and only requests proving that key may use it. With
	// BindRefresh, Issue binds the session's refresh tokens to it too
	// (§5: a public client's refresh tokens are bound; a confidential
	// client's are bound to its authentication already). Rotate binds a
	// family that is not bound yet.
	JKT         string
	BindRefresh bool
}

// Actor is the act claim of RFC 8693 §4.1: who acts, and, nested, who
// acted before it in a chain of delegations.
type Actor struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id,omitempty"`
	Act      *Actor `json:"act,omitempty"`
}

// MaxActDepth bounds a chain of act claims.
const MaxActDepth = 8

// Depth is the number of actors in the chain a starts.
func (a *Actor) Depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// NewID returns a fresh token or family id.
func NewID() string { return randomID() }

// Tokens is what Issue and Rotate return.
type Tokens struct {
	AccessToken  string
	IDToken      string
	RefreshToken string
	ExpiresIn    time.Duration
	Scopes       []string
	AccessJTI    string
	FamilyID     string
	// JKT is the DPoP key the access token is bound to, if any: its
	// token_type is then DPoP (RFC 9449 §5).
	JKT string
}

// accessClaims are RFC 9068's claims.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	JTI      string   `json:"jti"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	AMR      []string `json:"amr,omitempty"`
	ACR      string   `json:"acr,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Username string   `json:"preferred_username,omitempty"`
	Session  string   `json:"sid,omitempty"` // revoking the session ends the token
	Act      *Actor   `json:"act,omitempty"` // RFC 8693 §4.1
	Cnf      *cnf     `json:"cnf,omitempty"` // RFC 9449 §6.1: the DPoP key
}

// cnf is the confirmation claim (RFC 7800) of a DPoP-bound token.
type cnf struct {
	JKT string `json:"jkt"`
}

// Authentication context classes (the acr claim): what the login proved.
// A client asks for ACRMFA in acr_values to have a second factor asked.
const (
	ACRPassword = "urn:portico:acr:pwd" // one factor
	ACRMFA      = "urn:portico:acr:mfa" // a second factor too
)

// ACR is the class of a login that used the methods amr (RFC 8176 values).
func ACR(amr []string) string {
	switch {
	case slices.Contains(amr, "mfa"):
		return ACRMFA
	case len(amr) > 0:
		return ACRPassword
	}
	return ""
}

type idClaims struct {
	Issuer            string   `json:"iss"`
	Subject           string   `json:"sub"`
	Audience          string   `json:"aud"`
	AuthorizedParty   string   `json:"azp"`
	Expiry            int64    `json:"exp"`
	IssuedAt          int64    `json:"iat"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	AccessTokenHash   string   `json:"at_hash,omitempty"`
	AMR               []string `json:"amr,omitempty"`
	ACR               string   `json:"acr,omitempty"`
	Session           string   `json:"sid,omitempty"`
	Email             string   `json:"email,omitempty"`
	EmailVerified     *bool    `json:"email_verified,omitempty"`
	Name              string   `json:"name,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Groups            []string `json:"groups,omitempty"`
}

// Issue mints the tokens for a fresh grant: an access token, and an id_token
// and refresh token when g asks for them.
func (s *Service) Issue(ctx context.Context, g Grant) (Tokens, error) {
	p := s.policy(g.Policy)
	g.Policy = p
	now := s.now()
	var refresh string
	if g.Session || g.Refresh {
		if g.FamilyID == "" {
			g.FamilyID = randomID()
		}
		if g.GrantedResources == nil {
			g.GrantedResources = g.Resources
		}
		// A session without refresh lives as long as its tokens can.
		f := RefreshFamily{
			ID: g.FamilyID, UserID: g.Subject, ClientID: g.ClientID, ConnectorID: g.ConnectorID,
			Scopes: g.Scopes, Resources: g.GrantedResources, AuthTime: g.AuthTime, AMR: g.AMR,
			RotatedAt: now, CreatedAt: now, Expiry: now.Add(max(p.AccessTokenTTL, p.IDTokenTTL) + leeway),
		}
		t := RefreshToken{FamilyID: f.ID}
		if g.BindRefresh {
			f.JKT = g.JKT
		}
		if g.Refresh {
			refresh, f.Current = newRefreshToken()
			f.Expiry = now.Add(p.RefreshAbsoluteTTL)
			t.Hash = f.Current
		}
		t.Expiry = f.Expiry
		if err := s.store.CreateRefreshFamily(ctx, f, t); errors.Is(err, ErrAlreadyExists) {
			// The id is taken: by a tombstone (the session was ended, by a
			// logout or a replayed code, before its code was redeemed) or
			// by a session already issued. Either way this grant is void.
			return Tokens{}, fmt.Errorf("%w: session ended", ErrInvalidGrant)
		} else if err != nil {
			return Tokens{}, fmt.Errorf("tokensvc: store session: %w", err)
		}
	}
	t, err := s.mint(ctx, g, now)
	if err != nil {
		return Tokens{}, err
	}
	t.RefreshToken = refresh
	return t, nil
}

// mint makes the access token and, if asked, the id_token of g, whose
// Policy is already filled in.
func (s *Service) mint(ctx context.Context, g Grant, now time.Time) (Tokens, error) {
	p := g.Policy
	exp := now.Add(p.AccessTokenTTL)
	if !g.NotAfter.IsZero() && g.NotAfter.Before(exp) {
		exp = g.NotAfter
	}
	jti := g.AccessJTI
	if jti == "" {
		jti = randomID()
	}
	t := Tokens{ExpiresIn: exp.Sub(now), Scopes: g.Scopes, AccessJTI: jti, FamilyID: g.FamilyID, JKT: g.JKT}
	if p.Format == FormatOpaque {
		tok, hash := newOpaqueToken()
		rec := OpaqueToken{
			Hash: hash, Subject: g.Subject, ClientID: g.ClientID, Scopes: g.Scopes, FamilyID: g.FamilyID,
			Username: g.Username, Groups: g.Claims.Groups, AMR: g.AMR, AuthTime: g.AuthTime,
			Audience: g.Audience, Resources: g.Resources, IssuedAt: now, Expiry: exp, Act: g.Act, JKT: g.JKT,
		}
		if err := s.store.CreateOpaqueToken(ctx, rec); err != nil {
			return Tokens{}, fmt.Errorf("tokensvc: store access token: %w", err)
		}
		t.AccessToken, t.AccessJTI = tok, ""
	} else {
		key, err := s.keys.active(now, s.cfg.SigningAlg)
		if err != nil {
			return Tokens{}, err
		}
		ac := accessClaims{
			Issuer: s.cfg.Issuer, Subject: g.Subject, Audience: audience(g.ClientID, g.Resources, g.Audience),
			Expiry: exp.Unix(), IssuedAt: now.Unix(), JTI: jti, ClientID: g.ClientID,
			Scope: strings.Join(g.Scopes, " "), AMR: g.AMR, ACR: ACR(g.AMR), Groups: g.Claims.Groups,
			Username: g.Username, Session: g.FamilyID, Act: g.Act,
		}
		if !g.AuthTime.IsZero() {
			ac.AuthTime = g.AuthTime.Unix()
		}
		if g.JKT != "" {
			ac.Cnf = &cnf{JKT: g.JKT}
		}
		if t.AccessToken, err = signJSON(key.at, ac); err != nil {
			return Tokens{}, err
		}
	}
	if g.IDToken {
		key, err := s.keys.active(now, p.IDTokenAlg)
		if err != nil {
			return Tokens{}, err
		}
		ic := idClaims{
			Issuer: s.cfg.Issuer, Subject: g.Subject, Audience: g.ClientID, AuthorizedParty: g.ClientID,
			Expiry: now.Add(p.IDTokenTTL).Unix(), IssuedAt: now.Unix(), Nonce: g.Nonce,
			AccessTokenHash: halfHash(key.alg, t.AccessToken), AMR: g.AMR, ACR: ACR(g.AMR), Session: g.FamilyID,
			Email: g.Claims.Email, EmailVerified: g.Claims.EmailVerified, Name: g.Claims.Name,
			PreferredUsername: g.Claims.PreferredUsername, Groups: g.Claims.Groups,
		}
		if !g.AuthTime.IsZero() {
			ic.AuthTime = g.AuthTime.Unix()
		}
		var claims any = ic
		if len(g.Claims.Extra) > 0 {
			if claims, err = withExtra(ic, g.Claims.Extra); err != nil {
				return Tokens{}, err
			}
		}
		if t.IDToken, err = signJSON(key.jose, claims); err != nil {
			return Tokens{}, err
		}
	}
	return t, nil
}

// audience is an access token's audience: the client, or the resources
// when there are any, then extra.
func audience(clientID string, resources, extra []string) []string {
	out := []string{clientID}
	if len(resources) > 0 {
		out = slices.Clone(resources)
	}
	for _, a := range extra {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// withExtra returns claims as a JSON object with extra's members added,
// except those it already has (or would have, were they not empty).
func withExtra(claims idClaims, extra map[string]any) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(claims)
	if err != nil {
		return nil, fmt.Errorf("tokensvc: marshal claims: %w", err)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("tokensvc: marshal claims: %w", err)
	}
	for k, v := range extra {
		if _, taken := out[k]; taken || idClaimNames[k] {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("tokensvc: marshal claim %s: %w", k, err)
		}
		out[k] = raw
	}
	return out, nil
}

// idClaimNames are the JSON names of idClaims' fields.
var idClaimNames = func() map[string]bool {
	names := map[string]bool{}
	t := reflect.TypeFor[idClaims]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		names[name] = true
	}
	return names
}()

func signJSON(sg jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("tokensvc: marshal claims: %w", err)
	}
	jws, err := sg.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("tokensvc: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// halfHash is the at_hash of OIDC Core §3.1.3.6: the left half of the hash
// the signing algorithm uses (SHA-512 for EdDSA with Ed25519).
func halfHash(alg, token string) string {
	var h hash.Hash
	if alg == EdDSA {
		h = sha512.New()
	} else {
		h = sha256.New()
	}
	h.Write([]byte(token))
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// randomID returns 128 random bits, base64url.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Opaque tokens carry 256 random bits behind a prefix that says what they
// are, so secret scanners can find leaked Portico tokens.
const (
	refreshPrefix = "prt_"
	opaquePrefix  = "pat_"
	opaqueLen     = 4 + 43
)

func newRefreshToken() (token, hash string) { return newToken(refreshPrefix) }
func newOpaqueToken() (token, hash string)  { return newToken(opaquePrefix) }

func newToken(prefix string) (token, hash string) {
	var b [32]byte
	rand.Read(b[:])
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashToken(token)
}

// hashToken is how opaque tokens are stored: they carry 256 random bits, so
// a fast hash is as safe as a slow one and costs a microsecond.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
