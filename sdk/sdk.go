// Package sdk is the contract between Portico and a connector.
//
// A connector authenticates people against one identity store (a user
// database, a directory, a SAML or OAuth provider) and describes who they
// are as an Identity. The broker turns that Identity into one canonical user
// and issues tokens; the connector never sees tokens, clients or the store.
//
// The contract is a set of small capability interfaces rather than one large
// one, because connectors differ in how people log in: a directory takes a
// username and password (PasswordConnector), a social login sends the browser
// elsewhere and handles its return (CallbackConnector), and most can re-check
// a user later (RefreshConnector). A connector implements the ones it can.
//
// The same values cross a process boundary (go-plugin) and a WASM boundary,
// so everything here is plain data: no *http.Request, no callbacks, no
// pointers into the broker. The package imports nothing of Portico, and a
// plugin author needs nothing else.
package sdk

import (
	"context"
	"errors"
	"slices"
)

// Identity is what a connector knows about a person after a login.
//
// Subject must be stable for the life of the account in the upstream store:
// an immutable id such as an LDAP entryUUID or a SAML persistent NameID, not
// a username or email that can change. The broker links (connector, Subject)
// to one Portico user, so a changed Subject looks like a different person.
type Identity struct {
	// Subject is the person's stable, unique id in the store.
	Subject string `json:"subject"`
	// Username is what the person logs in with, in the store's spelling.
	Username string `json:"username,omitempty"`
	// PreferredUsername is the name to show and to put in the
	// preferred_username claim.
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Email is the person's address.
	Email string `json:"email,omitempty"`
	// EmailVerified: the store vouches that Email is the person's.
	EmailVerified bool `json:"email_verified,omitempty"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Groups are the groups the person is in, by name.
	Groups []string `json:"groups,omitempty"`
	// Attributes are other values from the store, by name, for claim
	// mapping.
	Attributes map[string][]string `json:"attributes,omitempty"`

	// ConnectorData is kept by the broker with the identity and handed back
	// on Refresh (an upstream refresh token, say). It is never shown to
	// anyone, nor put in a token.
	ConnectorData []byte `json:"connector_data,omitempty"`
}

// Scopes describes what the client asked for, so a connector can skip work
// the tokens will not carry (group lookups, an upstream refresh token).
type Scopes struct {
	// OfflineAccess is true when the client asked for a refresh token.
	OfflineAccess bool `json:"offline_access,omitempty"`
	// Groups is true when the client asked for the groups claim.
	Groups bool `json:"groups,omitempty"`
}

// ParseScopes derives Scopes from an OAuth scope list.
func ParseScopes(scopes []string) Scopes {
	return Scopes{
		OfflineAccess: slices.Contains(scopes, "offline_access"),
		Groups:        slices.Contains(scopes, "groups"),
	}
}

// PasswordConnector logs a person in with a username and password typed into
// Portico's own login form.
type PasswordConnector interface {
	// Login returns ErrInvalidCredentials when the username is unknown or the
	// password wrong (the two must not be distinguishable), and an error
	// wrapping ErrUnavailable when the store cannot be asked.
	Login(ctx context.Context, s Scopes, username, password string) (Identity, error)
}

// CallbackConnector logs a person in by sending the browser to another site
// (an OAuth or OIDC provider, a SAML IdP) and handling its return at the
// broker's callback URL for the connector.
type CallbackConnector interface {
	// LoginURL says where to send the browser. state must come back
	// unchanged at the callback (as the OAuth state parameter, or SAML's
	// RelayState); the broker checks it, not the connector.
	LoginURL(ctx context.Context, s Scopes, callbackURL, state string) (Redirect, error)
	// HandleCallback turns the returning request into an Identity. It
	// returns an error wrapping ErrInvalidCredentials when the upstream
	// refused the person or the answer did not validate, and ErrUnavailable
	// when the upstream could not be reached.
	HandleCallback(ctx context.Context, s Scopes, req CallbackRequest) (Identity, error)
}

// Redirect is where a CallbackConnector sends the browser.
type Redirect struct {
	// URL is the upstream's login endpoint.
	URL string `json:"url"`
	// PostForm, when not nil, makes the broker POST these fields to URL
	// from an HTML form (SAML's HTTP-POST binding) instead of redirecting.
	PostForm map[string]string `json:"post_form,omitempty"`
	// Data is handed back in CallbackRequest.Data: what the connector must
	// remember between the two legs (a PKCE verifier, a nonce, a SAML
	// request id). The broker keeps it with the pending login, bound to
	// the browser and single use, and never shows it to anyone.
	Data []byte `json:"data,omitempty"`
}

// CallbackRequest is the part of the browser's request to the callback URL
// that a connector may read, plus the Data its LoginURL returned.
type CallbackRequest struct {
	Method string `json:"method"` // GET or POST
	URL    string `json:"url"`    // the callback URL, as LoginURL was given it
	// Query is the URL's query parameters, Form a POST's form fields.
	Query map[string][]string `json:"query,omitempty"`
	Form  map[string][]string `json:"form,omitempty"`
	// Data is the Redirect.Data of the LoginURL that began this login.
	Data []byte `json:"data,omitempty"`
}

// MetadataConnector publishes a document the upstream's administrator needs
// to trust Portico, such as a SAML service provider's metadata. The broker
// serves it at a stable URL per connector.
type MetadataConnector interface {
	Metadata(ctx context.Context) (Document, error)
}

// Document is a body with its media type.
type Document struct {
	ContentType string `json:"content_type"` // a media type, such as application/samlmetadata+xml
	Body        []byte `json:"body"`         // the document itself
}

// RefreshConnector re-checks a person when their tokens are refreshed.
type RefreshConnector interface {
	// Refresh returns the identity as the store sees it now: groups may have
	// changed. An error ends the person's token family; ErrUnavailable
	// means "try later" and ends nothing.
	Refresh(ctx context.Context, s Scopes, id Identity) (Identity, error)
}

// Errors a connector returns, wrapped or not; the broker tests with errors.Is.
var (
	// ErrInvalidCredentials: the person could not be authenticated. The
	// broker shows one message for every cause.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrUnavailable: the identity store could not be reached or is
	// overloaded. The login page answers 503 instead of "wrong password".
	ErrUnavailable = errors.New("identity store unavailable")
	// ErrUserGone: on Refresh, the person no longer exists or is disabled.
	ErrUserGone = errors.New("user no longer exists")

	// Password states a connector reports only once the password was
	// right (the store checked it), so that they tell nothing to someone
	// guessing: the broker shows each its own message instead of "wrong
	// password". Each also matches ErrInvalidCredentials with errors.Is,
	// so code that knows only that still refuses the login.

	// ErrPasswordExpired: the password was right but has expired.
	ErrPasswordExpired error = &stateError{"password expired"}
	// ErrPasswordMustChange: the password was right but must be changed
	// before the account can be used (reset by an administrator).
	ErrPasswordMustChange error = &stateError{"password must be changed"}
	// ErrAccountLocked: the account is locked (too many failures, or by
	// an administrator).
	ErrAccountLocked error = &stateError{"account locked"}
)

// stateError is a password state: a refusal more precise than
// ErrInvalidCredentials, and one of them for errors.Is.
type stateError struct{ msg string }

func (e *stateError) Error() string { return e.msg }

func (e *stateError) Is(target error) bool { return target == ErrInvalidCredentials }
