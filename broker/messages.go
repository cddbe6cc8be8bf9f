package broker

// The message catalogue: every sentence a person can see on Portico's
// pages, in one place, by id, so that wording is changed and translations
// are added here, not in handlers. Options.Messages overrides entries
// (ids as in the constants, e.g. "badLogin"); templates use the ui.* ids
// through {{t "ui.login"}}.

// Ids of the messages pages show.
const (
	msgUpstreamDown        = "upstreamDown"
	msgReauth              = "reauth"
	msgUnavailable         = "unavailable"
	msgLoginUsed           = "loginUsed"
	msgLogoutFailed        = "logoutFailed"
	msgNoConnector         = "noConnector"
	msgUnknownClient       = "unknownClient"
	msgConnectorDown       = "connectorDown"
	msgAccountCSRF         = "accountCSRF"
	msgNoPassword          = "noPassword"
	msgLinkNeedsLogin      = "linkNeedsLogin"
	msgNoMetadata          = "noMetadata"
	msgNotFound            = "notFound"
	msgNotLinkable         = "notLinkable"
	msgNoUnsolicited       = "noUnsolicited"
	msgUpstreamRefused     = "upstreamRefused"
	msgOtherBrowser        = "otherBrowser"
	msgNotStartedHere      = "notStartedHere"
	msgLinkUsed            = "linkUsed"
	msgLoginElsewhere      = "loginElsewhere"
	msgLoginExpired        = "loginExpired"
	msgLoginCSRF           = "loginCSRF"
	msgBadLogout           = "badLogout"
	msgBadResponse         = "badResponse"
	msgBadAuthorize        = "badAuthorize"
	msgBadRedirect         = "badRedirect"
	msgLogoutUnknownClient = "logoutUnknownClient"
	msgLogoutBadHint       = "logoutBadHint"
	msgLogoutBadRedirect   = "logoutBadRedirect"
	msgLogoutOtherClient   = "logoutOtherClient"
	msgDisabled            = "disabled"
	msgRepeatedParam       = "repeatedParam"
	msgLinkSessionEnded    = "linkSessionEnded"
	msgLinkNotAllowed      = "linkNotAllowed"
	msgLinkedElsewhere     = "linkedElsewhere"
	msgLinkRace            = "linkRace"
	msgBadCode             = "badCode"
	msgBadLogin            = "badLogin"
	msgStoreDown           = "storeDown"
	msgThrottled           = "throttled"
	msgBodyTooLarge        = "bodyTooLarge"
	msgBodyType            = "bodyType"
	msgIdentityRefused     = "identityRefused"
	// Passkeys (webauthn.go).
	msgPasskeyFailed      = "passkeyFailed"
	msgPasskeyCancelled   = "passkeyCancelled"
	msgPasskeyUnsupported = "passkeyUnsupported"
	msgPasskeyExists      = "passkeyExists"
	msgPasskeyExpired     = "passkeyExpired"
	msgPasskeySignCount   = "passkeySignCount"
	msgPasskeyNoLogin     = "passkeyNoLogin"
	msgPasskeyNeedsMFA    = "passkeyNeedsMFA"
	// Password states (login_password_state.go).
	msgPasswordExpired    = "passwordExpired"
	msgPasswordMustChange = "passwordMustChange"
	msgAccountLocked      = "accountLocked"
)

// message is a page's title and text; a title is empty for messages shown
// inside a page (a form's error).
type message struct{ Title, Text string }

// english is the catalogue Portico ships.
var english = map[string]message{
	msgReauth:                   {"Log in again", "For your security, log in again before adding a passkey."},
	msgUpstreamDown:             {"", "The identity provider is not available right now. Please try again later."},
	msgUnavailable:              {"Temporarily unavailable", "Please try again later."},
	msgLoginUsed:                {"Login expired", "This login was already used. Go back to the application and start again."},
	msgLogoutFailed:             {"Temporarily unavailable", "You could not be logged out. Please try again."},
	msgNoConnector:              {"Not found", "There is no such login method."},
	msgUnknownClient:            {"Unknown application", "The application that sent you here is not registered with this server."},
	msgConnectorDown:            {"Temporarily unavailable", "This login method is not available right now. Please try again later."},
	msgAccountCSRF:              {"Request refused", "The form was not sent by your account page. Open the account page and try again."},
	msgNoPassword:               {"Not supported", "This login method does not take a password."},
	msgLinkNeedsLogin:           {"Not logged in", "Log in first, then link another account from your account page."},
	msgNoMetadata:               {"Not found", "This login method publishes no metadata."},
	msgNotFound:                 {"Not found", "There is no page at this address."},
	msgNotLinkable:              {"Not found", "Accounts of this login method cannot be linked."},
	msgNoUnsolicited:            {"Login not possible", "This login method is not set up to start logins by itself."},
	msgUpstreamRefused:          {"Login failed", "The identity provider did not confirm who you are."},
	msgOtherBrowser:             {"Login expired", "This login was started in another browser. Go back to the application and start again."},
	msgNotStartedHere:           {"Login expired", "This login was not started here. Go back to the application and start again."},
	msgLinkUsed:                 {"Login expired", "This login was already used. Start again from your account page."},
	msgLoginElsewhere:           {"Login expired", "This login was already used or went elsewhere. Go back to the application and start again."},
	msgLoginExpired:             {"Login expired", "This login has expired or was already used. Go back to the application and start again."},
	msgLoginCSRF:                {"Login expired", "The form was not sent by this login page. Go back to the application and start again."},
	msgBadLogout:                {"Invalid request", "The logout request could not be read."},
	msgBadResponse:              {"Invalid request", "The login response could not be read."},
	msgBadAuthorize:             {"Invalid request", "The authorization request could not be read."},
	msgBadRedirect:              {"Invalid redirect URI", "The application asked to return you to an address it has not registered."},
	msgLogoutUnknownClient:      {"Invalid logout request", "The application that sent you here is not known."},
	msgLogoutBadHint:            {"Invalid logout request", "The application sent an ID token this server did not issue."},
	msgLogoutBadRedirect:        {"Invalid logout request", "The application asked to return you to an address it has not registered."},
	msgLogoutOtherClient:        {"Invalid logout request", "The ID token was issued to another application."},
	msgDisabled:                 {"Account disabled", "Your account is disabled. Contact your administrator."},
	msgRepeatedParam:            {"Invalid request", "The parameter %s appears more than once."},
	msgLinkSessionEnded:         {"Not logged in", "Your session ended before the account could be linked. Log in and try again."},
	msgLinkNotAllowed:           {"Not allowed", "Accounts of this login method cannot be linked."},
	msgLinkedElsewhere:          {"Already linked", "That account is already linked to another user. Ask an administrator to unlink it first."},
	msgLinkRace:                 {"Already linked", "That account was linked meanwhile. Open your account page to see where."},
	msgBadCode:                  {"", "That code is not right. Check the time on your device and try again."},
	msgBadLogin:                 {"", "Invalid username or password."},
	msgStoreDown:                {"", "The identity store is not available right now. Please try again later."},
	msgThrottled:                {"Too many attempts", "Too many attempts. Wait %s, then try again."},
	msgBodyTooLarge:             {"Request too large", "What was sent is too large for this page. Go back and try again."},
	msgBodyType:                 {"Request not understood", "What was sent is not a form this page accepts. Go back and try again."},
	msgIdentityRefused:          {"Login refused", "Your account's details from this login method cannot be accepted here (a name too long, say, or characters that are not allowed). Trying again will not help: ask your administrator to correct the account."},
	msgPasswordExpired:          {"Password expired", "Your password has expired. Change it with your organisation's password tool, or ask your administrator, then log in again."},
	msgPasswordMustChange:       {"Password change required", "Your password must be changed before you can log in. Change it with your organisation's password tool, or ask your administrator, then log in again."},
	msgAccountLocked:            {"Account locked", "Your account is locked. Wait for it to unlock, or ask your administrator to unlock it."},
	"ui.login":                  {"", "Log in"},
	"ui.login_with":             {"", "Log in with"},
	"ui.username":               {"", "Username or email"},
	"ui.password":               {"", "Password"},
	"ui.other_ways":             {"", "Other ways to log in"},
	"ui.continue":               {"", "Continue"},
	"ui.mfa_title":              {"", "Two-step verification"},
	"ui.mfa_intro":              {"", "Enter the 6-digit code from your authenticator app."},
	"ui.code":                   {"", "Code"},
	"ui.verify":                 {"", "Verify"},
	"ui.use_recovery":           {"", "Use a recovery code instead"},
	"ui.recovery_code":          {"", "Recovery code"},
	"ui.use_passkey":            {"", "Use a passkey"},
	"ui.enrol_title":            {"", "Set up two-step verification"},
	"ui.enrol_intro":            {"", "Scan this QR code with an authenticator app (such as Google Authenticator, Authy or 1Password), then enter the code it shows."},
	"ui.qr_alt":                 {"", "QR code of your authenticator key"},
	"ui.manual_key":             {"", "Or enter this key by hand:"},
	"ui.enrol_passkey":          {"", "Or use a passkey (a security key, or your device's fingerprint or face unlock):"},
	"ui.add_passkey":            {"", "Add a passkey"},
	"ui.recovery_title":         {"", "Save your recovery codes"},
	"ui.recovery_intro":         {"", "If you lose your authenticator, each of these codes lets you log in once. Keep them somewhere safe: they are shown only now."},
	"ui.consent_title":          {"", "Allow access?"},
	"ui.consent_intro":          {"", "%s would like to:"},
	"ui.allow":                  {"", "Allow"},
	"ui.deny":                   {"", "Deny"},
	"ui.account_title":          {"", "Your account"},
	"ui.logged_in_as":           {"", "Logged in as"},
	"ui.linked":                 {"", "Linked accounts"},
	"ui.link_another":           {"", "Link another account"},
	"ui.link":                   {"", "Link"},
	"ui.logout_confirm":         {"", "Log out?"},
	"ui.logout_confirm_text":    {"", "Log out of every application you are logged in to here?"},
	"ui.logout":                 {"", "Log out"},
	"ui.cancel":                 {"", "Cancel"},
	"ui.logout_cancelled_title": {"", "Still logged in"},
	"ui.logout_cancelled":       {"", "You did not log out: you are still logged in."},
	"ui.consents":               {"", "Applications you allowed"},
	"ui.revoke":                 {"", "Revoke"},
	"ui.logged_out_title":       {"", "Logged out"},
	"ui.logged_out":             {"", "You are logged out."},
	"ui.back_to_app":            {"", "Back to the application"},
	"ui.login_failed":           {"", "Login failed"},
	"ui.passkey_login":          {"", "Log in with a passkey"},
	"ui.passkeys":               {"", "Passkeys"},
	"ui.scope.openid":           {"", "Know who you are"},
	"ui.scope.profile":          {"", "See your name and username"},
	"ui.scope.email":            {"", "See your email address"},
	"ui.scope.groups":           {"", "See the groups you belong to"},
	"ui.scope.roles":            {"", "See your roles"},
	"ui.scope.offline_access":   {"", "Stay signed in when you are not using it"},
	"ui.scope.admin":            {"", "Administer Portico with your full administrator rights"},
	"ui.third_party":            {"", "This application registered itself: it is not one of this organisation's own. Make sure you know it before you go on."},
	"ui.linked_done":            {"", "The account is now linked."},
	"ui.consent_revoked":        {"", "Access revoked."},
	msgPasskeyFailed:            {"", "The passkey could not be used. Try again, or choose another way."},
	msgPasskeyCancelled:         {"", "The passkey request was cancelled or timed out. Try again when you are ready."},
	msgPasskeyUnsupported:       {"", "This browser cannot use passkeys. Choose another way."},
	msgPasskeyExists:            {"", "This authenticator already holds a passkey for your account."},
	msgPasskeyExpired:           {"", "The passkey request expired. Try again."},
	msgPasskeySignCount:         {"", "This passkey was refused because it may have been copied. Choose another way, and tell your administrator."},
	msgPasskeyNoLogin:           {"Login not possible", "This passkey cannot log you in here. Log in another way."},
	msgPasskeyNeedsMFA:          {"Log in again", "Log out, log in again with your second factor, then add the passkey."},
	"ui.passkey_create_help":    {"", "Your browser will ask you to create a passkey, with a security key or with your device's fingerprint, face or screen lock."},
	"ui.passkey_get_help":       {"", "Your browser will ask you to confirm with your passkey."},
	"ui.passkey_working":        {"", "Waiting for your passkey…"},
	"ui.passkey_noscript":       {"", "Passkeys need JavaScript. Turn it on, or choose another way."},
	"ui.passkey_other_way":      {"", "Choose another way"},
	"ui.passkey_added":          {"", "The passkey was added."},
	"ui.passkey_item":           {"", "Passkey added on"},
	"ui.passkey_last_used":      {"", "last used on"},
}
