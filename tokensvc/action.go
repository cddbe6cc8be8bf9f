package tokensvc

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Action tokens are the links Portico mails: verify an email address,
// reset a password, accept an invitation. They are JWS signed with the
// service's keys, so a link cannot be forged or altered, and carry:
//
//   - their purpose, checked on use, with the explicit type
//     "portico-action+jwt", so that no other token of Portico's passes for
//     one (nor one for another);
//   - the account and the address they were sent to;
//   - a binding, a digest of the account state they may act on (its
//     password hash, its address): when that changes, the link is dead,
//     so a reset link dies when the password changes by any way;
//   - an id, which the broker spends in its store on first use, so that
//     each works once across replicas;
//   - an expiry.
//
// A link is a bearer secret: it is never logged, and mailed only.

// actionType is the JWS typ of action tokens.
const actionType = "portico-action+jwt"

// MaxActionTTL bounds an action token's lifetime.
const MaxActionTTL = 30 * 24 * time.Hour

// Action is what an action token says.
type Action struct {
	Purpose string    // e.g. "reset", "verify", "invite"
	Subject string    // the account
	Email   string    // the address the link was sent to
	Binding string    // digest of the account state it may act on
	ID      string    // spent on use
	Expiry  time.Time // set by MintAction
}

// ErrActionExpired is returned (wrapped) by ParseAction for a link whose
// time is up, so that the page can say so.
var ErrActionExpired = errors.New("tokensvc: link expired")

type actionClaims struct {
	Issuer   string `json:"iss"`
	Audience string `json:"aud"`
	Subject  string `json:"sub"`
	Email    string `json:"email,omitempty"`
	Binding  string `json:"bnd"`
	JTI      string `json:"jti"`
	IssuedAt int64  `json:"iat"`
	Expiry   int64  `json:"exp"`
}

// actionAudience ties a token to its purpose.
func (s *Service) actionAudience(purpose string) string {
	return s.cfg.Issuer + "#action:" + purpose
}

// MintAction signs a link of a.Purpose for a.Subject valid for ttl, with
// a fresh ID, and returns it with the Action it says.
func (s *Service) MintAction(a Action, ttl time.Duration) (string, Action, error) {
	if a.Purpose == "" || a.Subject == "" || ttl <= 0 || ttl > MaxActionTTL {
		return "", a, errors.New("tokensvc: an action token needs a purpose, a subject and a lifetime up to 30 days")
	}
	now := s.now()
	key, err := s.keys.active(now, s.cfg.SigningAlg)
	if err != nil {
		return "", a, err
	}
	a.ID, a.Expiry = randomID(), now.Add(ttl).Truncate(time.Second)
	c := actionClaims{Issuer: s.cfg.Issuer, Audience: s.actionAudience(a.Purpose), Subject: a.Subject, Email: a.Email,
		Binding: a.Binding, JTI: a.ID, IssuedAt: now.Unix(), Expiry: a.Expiry.Unix()}
	tok, err := signJSON(key.action, c)
	return tok, a, err
}

// ParseAction verifies a link of purpose: signature by a key of the
// service, type, issuer, purpose and expiry. It does not spend the ID or
// check the binding: the caller does both against the account.
func (s *Service) ParseAction(token, purpose string) (Action, error) {
	if len(token) > maxTokenLen || strings.Count(token, ".") != 2 {
		return Action{}, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	jws, err := jose.ParseSignedCompact(token, signatureAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return Action{}, fmt.Errorf("%w: not a JWS", ErrInvalidToken)
	}
	h := jws.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != actionType {
		return Action{}, fmt.Errorf("%w: typ %q", ErrInvalidToken, typ)
	}
	key := s.keys.byID(h.KeyID)
	if key == nil || key.alg != h.Algorithm {
		return Action{}, fmt.Errorf("%w: unknown key", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.public)
	if err != nil {
		return Action{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var c actionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Action{}, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	switch {
	case c.Issuer != s.cfg.Issuer || c.Audience != s.actionAudience(purpose):
		return Action{}, fmt.Errorf("%w: not a %s link", ErrInvalidToken, purpose)
	case c.Subject == "" || c.JTI == "":
		return Action{}, fmt.Errorf("%w: missing claims", ErrInvalidToken)
	case s.now().Unix() >= c.Expiry:
		return Action{}, fmt.Errorf("%w: %w", ErrInvalidToken, ErrActionExpired)
	}
	return Action{Purpose: purpose, Subject: c.Subject, Email: c.Email, Binding: c.Binding, ID: c.JTI,
		Expiry: time.Unix(c.Expiry, 0)}, nil
}
