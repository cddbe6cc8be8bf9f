package browser

import (
	"context"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// Authenticator is a virtual WebAuthn authenticator attached to a
// Browser's tab: pages in the tab see it through navigator.credentials.
type Authenticator struct {
	b  *Browser
	ID webauthn.AuthenticatorID
}

// Credential is a credential an Authenticator holds.
type Credential struct {
	ID         []byte // the credential ID the relying party stores
	RPID       string
	UserHandle []byte // user.id from the registration
	UserName   string // user.name from the registration
	Resident   bool   // a discoverable credential (passkey)
	SignCount  int64  // goes up with each assertion
}

// AddAuthenticator adds a virtual platform authenticator to the tab: CTAP2
// over the internal transport, with resident keys and user verification
// that succeeds, and user presence simulated, so that a page's
// navigator.credentials.create and .get complete without a prompt.
// See the package doc for the origins WebAuthn accepts.
func (b *Browser) AddAuthenticator(ctx context.Context) (*Authenticator, error) {
	id, err := run(ctx, b, "add a virtual authenticator", func(ctx context.Context, t *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if !b.webauthnOn {
			// enableUI stays false: no browser dialog to click through.
			if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return "", err
			}
			b.webauthnOn = true
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return res.AuthenticatorID, err
	})
	if err != nil {
		return nil, err
	}
	return &Authenticator{b: b, ID: id}, nil
}

// Credentials returns the credentials the authenticator holds.
func (a *Authenticator) Credentials(ctx context.Context) ([]Credential, error) {
	res, err := run(ctx, a.b, "list the authenticator's credentials", func(ctx context.Context, t *chromedp.Target) (webauthn.GetCredentialsResult, error) {
		return cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.ID})
	})
	if err != nil {
		return nil, err
	}
	creds := make([]Credential, 0, len(res.Credentials))
	for _, c := range res.Credentials {
		creds = append(creds, Credential{
			ID:         c.CredentialID,
			RPID:       c.RpID,
			UserHandle: c.UserHandle,
			UserName:   c.UserName,
			Resident:   c.IsResidentCredential,
			SignCount:  int64(c.SignCount),
		})
	}
	return creds, nil
}
