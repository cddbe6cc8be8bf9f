// Package oidc is the connector for OpenID Connect upstreams: another
// identity provider (Keycloak, Okta, Dex, another Portico) logs the person
// in, and Portico takes who they are from its id_token. Google and
// Microsoft Entra ID are presets of it (GoogleConfig, MicrosoftConfig):
// the same connector with their habits filled in, not copies.
//
// # The login
//
// The upstream is found by discovery from its issuer when the connector is
// built. An upstream that cannot be reached then is logged as a warning
// and asked again on first use, so a down upstream does not stop Portico,
// and its logins answer 503 until it is back; one that answers for another
// issuer is a config error.
//
// The browser goes to the upstream with the code flow: the broker's state
// (the pending request, which the broker checks and spends at the
// callback), a fresh nonce and a PKCE S256 challenge. The nonce and the
// verifier travel in sdk.Redirect.Data, which the broker keeps server-side
// and bound to the browser. At the callback an error parameter refuses the
// login (access_denied, say; the upstream's temporarily_unavailable and
// server_error mean 503); otherwise the code is exchanged with the verifier
// and the id_token verified by go-oidc: signature by the upstream's JWKS
// (fetched again when a token names an unknown key, so rotation just
// works), issuer, audience, expiry; then here: nonce, azp when there are
// several audiences, at_hash, and for Microsoft's multi-tenant endpoints
// the tenant (below).
//
// # Claims
//
// claim_mapping names the claims: subject (default sub), email,
// email_verified, username (preferred_username), name, groups. The
// subject must be stable; the broker links it to one Portico user. An
// email counts as verified only when email_verified is true (or "true"):
// applications match people by verified email, so an address the upstream
// did not vouch for never passes as one. A missing email_verified is false
// unless insecure_skip_email_verified is set. With get_userinfo the
// userinfo endpoint's claims are added (it must be about the same sub).
// hosted_domains admits only people whose hd claim is listed, and
// allowed_groups only people in one of those groups, at login and at each
// refresh.
//
// # Refresh
//
// When the application asks Portico for a refresh token, the connector
// asks the upstream for one (offline_access, or Google's
// access_type=offline) and keeps it in the identity's ConnectorData,
// encrypted with AES-256-GCM under the connector's key and bound to the
// subject, so the store does not hold upstream credentials in clear. On
// Refresh it is redeemed at the upstream's token endpoint. A refusal
// there (RFC 6749 §5.2: any 4xx but 429 and 408, whatever the error code,
// so Dex's invalid_request for a claimed or expired token as well as
// invalid_grant for a deleted, disabled or revoked person) is
// sdk.ErrUserGone and ends the person's Portico tokens; an upstream that
// cannot be reached, does not answer in time, or answers 5xx or 429 is
// sdk.ErrUnavailable and ends nothing. A refused client (invalid_client,
// unauthorized_client) is the operator's to fix and also ends nothing. A new id_token
// is verified (without a nonce) and re-mapped, so changed groups follow,
// and must be about the same subject. Refresh tokens the upstream rotates
// are kept; refreshes for one person are serialised, and the connector
// remembers recent rotations, so a rotated-away token is never presented
// again (an upstream takes that for theft and ends the session).
//
// # Failures
//
// Every upstream call is bounded by timeout (default 10s). Unreachable,
// slow, 5xx, 429 and malformed answers wrap sdk.ErrUnavailable; an error
// parameter, a refused code and a token that does not validate wrap
// sdk.ErrInvalidCredentials. A refused client (invalid_client) is logged
// for the operator and answered as unavailable, since the person can do
// nothing about it.
//
// # Google
//
//	type: google
//	config:
//	  client_id: ...apps.googleusercontent.com
//	  client_secret: ...
//	  hosted_domains: [example.com]   # optional: Workspace accounts only
//
// Google sends no groups; the username is the email address.
//
// # Microsoft Entra ID
//
//	type: microsoft
//	config:
//	  client_id: 00000000-...
//	  client_secret: ...
//	  tenant: organizations           # common (default), organizations, consumers or a tenant id
//	  allowed_tenants: [<tenant id>]  # optional, for multi-tenant apps
//
// The common endpoint's id_tokens carry their own tenant's issuer
// (https://login.microsoftonline.com/<tid>/v2.0); the connector requires
// each token's issuer to be that of the tenant in its tid claim, refuses
// personal accounts on organizations and admits only them on consumers.
// The subject is oid, the user's immutable object id. Entra's email claim
// is not verified by anyone unless the token says so with xms_edov, which
// is the default email_verified claim.
package oidc
