package broker

// passkey is a WebAuthn credential registered to a user.
type passkey struct {
	ID        []byte `json:"id"`
	PublicKey []byte `json:"public_key"`
	SignCount uint32 `json:"sign_count"`
	Name      string `json:"name,omitempty"`
}

// webauthnOn reports whether passkeys are offered.
func (b *Broker) webauthnOn() bool { return false }
