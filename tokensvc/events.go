package tokensvc

import "context"

// Event is something the token service did that belongs in an audit
// trail. It names the session and the parties, never a token.
type Event struct {
	Type     string // EventRevoked or EventRefreshReplay
	ClientID string
	UserID   string // the subject; empty when not known
	FamilyID string // the session (the tokens' sid); empty for a lone access token
	// Ended: the session FamilyID ended now (RevokeFamily), as opposed
	// to one access token revoked. Exactly one replica sees it per
	// session: the one whose compare-and-swap revoked it.
	Ended bool
}

// Event types.
const (
	// EventRevoked: a session ended (revocation, logout, a replay, or the
	// user no longer allowed), or an access token was revoked (RFC 7009).
	EventRevoked = "revoked"
	// EventRefreshReplay: a rotated-away refresh token was presented; its
	// session was revoked.
	EventRefreshReplay = "refresh_replay"
)

// SetEventHook makes fn receive every Event from now on, replacing any
// earlier hook; nil removes it. fn runs in the caller's request and must
// not block it for long.
func (s *Service) SetEventHook(fn func(context.Context, Event)) {
	if fn == nil {
		s.hook.Store(nil)
		return
	}
	s.hook.Store(&fn)
}

func (s *Service) emit(ctx context.Context, e Event) {
	if fn := s.hook.Load(); fn != nil {
		(*fn)(ctx, e)
	}
}
