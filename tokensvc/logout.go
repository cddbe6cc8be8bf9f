package tokensvc

import (
	"errors"
	"time"
)

// LogoutTokenTTL is how long a logout token is valid: OpenID Connect
// Back-Channel Logout 1.0 §2.4 recommends at most two minutes. It also
// bounds how long the broker keeps retrying one delivery.
const LogoutTokenTTL = 2 * time.Minute

// BackchannelLogoutEvent is the member of a logout token's events claim
// (Back-Channel Logout §2.4).
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Logout names the session a logout token reports ended.
type Logout struct {
	ClientID string // the audience: the relying party told
	Subject  string // the user (sub)
	Session  string // the session (sid), as the client's id_token carried it
	// Alg signs the token; "" is the service's SigningAlg. The client's
	// id_token algorithm is the one it can verify.
	Alg string
}

// logoutClaims are Back-Channel Logout §2.4's claims. There is no nonce:
// §2.4 forbids one, so a logout token never passes for an id_token.
type logoutClaims struct {
	Issuer   string         `json:"iss"`
	Subject  string         `json:"sub,omitempty"`
	Audience string         `json:"aud"`
	IssuedAt int64          `json:"iat"`
	Expiry   int64          `json:"exp"`
	JTI      string         `json:"jti"`
	Events   map[string]any `json:"events"`
	Session  string         `json:"sid,omitempty"`
}

// LogoutToken mints the logout token of Back-Channel Logout §2.4 for l,
// with the header typ "logout+jwt" (§2.4's explicit typing, which keeps it
// from passing for an id_token or an access token), and returns it with
// its jti.
func (s *Service) LogoutToken(l Logout) (token, jti string, err error) {
	if l.ClientID == "" || (l.Subject == "" && l.Session == "") {
		return "", "", errors.New("tokensvc: a logout token needs a client and a sub or sid")
	}
	alg := l.Alg
	if alg == "" {
		alg = s.cfg.SigningAlg
	}
	now := s.now()
	key, err := s.keys.active(now, alg)
	if err != nil {
		return "", "", err
	}
	c := logoutClaims{
		Issuer: s.cfg.Issuer, Subject: l.Subject, Audience: l.ClientID,
		IssuedAt: now.Unix(), Expiry: now.Add(LogoutTokenTTL).Unix(), JTI: randomID(),
		Events: map[string]any{BackchannelLogoutEvent: struct{}{}}, Session: l.Session,
	}
	if token, err = signJSON(key.logout, c); err != nil {
		return "", "", err
	}
	return token, c.JTI, nil
}
