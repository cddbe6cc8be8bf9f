package ui

import "maps"

// The message catalogue: every sentence a person can see on Portico's
// pages, in one place, by id, so that wording is changed and translations
// are added here, not in handlers. Theme.Messages overrides entries
// (ids as in the constants, e.g. "badLogin"); templates use the ui.* ids
// through {{t "ui.login"}}.

// Ids of the messages pages show.
const (
	MsgUpstreamDown        = "upstreamDown"
	MsgReauth              = "reauth"
	MsgUnavailable         = "unavailable"
	MsgLoginUsed           = "loginUsed"
	MsgLogoutFailed        = "logoutFailed"
	MsgNoConnector         = "noConnector"
	MsgUnknownClient       = "unknownClient"
	MsgConnectorDown       = "connectorDown"
	MsgAccountCSRF         = "accountCSRF"
	MsgNoPassword          = "noPassword"
	MsgLinkNeedsLogin      = "linkNeedsLogin"
	MsgNoMetadata          = "noMetadata"
	MsgNotFound            = "notFound"
	MsgNotLinkable         = "notLinkable"
	MsgNoUnsolicited       = "noUnsolicited"
	MsgUpstreamRefused     = "upstreamRefused"
	MsgOtherBrowser        = "otherBrowser"
	MsgNotStartedHere      = "notStartedHere"
	MsgLinkUsed            = "linkUsed"
	MsgLoginElsewhere      = "loginElsewhere"
	MsgLoginExpired        = "loginExpired"
	MsgLoginCSRF           = "loginCSRF"
	MsgBadLogout           = "badLogout"
	MsgBadResponse         = "badResponse"
	MsgBadAuthorize        = "badAuthorize"
	MsgBadRedirect         = "badRedirect"
	MsgLogoutUnknownClient = "logoutUnknownClient"
	MsgLogoutBadHint       = "logoutBadHint"
	MsgLogoutBadRedirect   = "logoutBadRedirect"
	MsgLogoutOtherClient   = "logoutOtherClient"
	MsgDisabled            = "disabled"
	MsgRepeatedParam       = "repeatedParam"
	MsgLinkSessionEnded    = "linkSessionEnded"
	MsgLinkNotAllowed      = "linkNotAllowed"
	MsgLinkedElsewhere     = "linkedElsewhere"
	MsgLinkRace            = "linkRace"
	MsgBadCode             = "badCode"
	MsgBadRecovery         = "badRecovery"
	MsgBadLogin            = "badLogin"
	MsgStoreDown           = "storeDown"
	MsgThrottled           = "throttled"
	MsgBodyTooLarge        = "bodyTooLarge"
	MsgBodyType            = "bodyType"
	MsgIdentityRefused     = "identityRefused"
	// Passkeys (broker/journey).
	MsgPasskeyFailed      = "passkeyFailed"
	MsgPasskeyCancelled   = "passkeyCancelled"
	MsgPasskeyUnsupported = "passkeyUnsupported"
	MsgPasskeyExists      = "passkeyExists"
	MsgPasskeyExpired     = "passkeyExpired"
	MsgPasskeySignCount   = "passkeySignCount"
	MsgPasskeyNoLogin     = "passkeyNoLogin"
	MsgPasskeyNeedsMFA    = "passkeyNeedsMFA"
	// Password states (broker/journey).
	MsgPasswordExpired    = "passwordExpired"
	MsgPasswordMustChange = "passwordMustChange"
	MsgAccountLocked      = "accountLocked"
	// The device pages (RFC 8628).
	MsgDeviceBadCode = "deviceBadCode"
	MsgDeviceCSRF    = "deviceCSRF"
	MsgDeviceGone    = "deviceGone"
)

// message is a page's title and text; a title is empty for messages shown
// inside a page (a form's error).
type message struct{ Title, Text string }

// english is the catalogue Portico ships: the login pages' and the
// admin console's (messages_console.go).
var english = merged(pageMessages, consoleMessages, selfMessages, accountMessages)

// german is the German catalogue (messages_de.go).
var german = merged(germanPages, germanConsole, germanSelf, germanAccount)

func merged(ms ...map[string]message) map[string]message {
	out := map[string]message{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// pageMessages are the login pages' and the errors'.
var pageMessages = map[string]message{
	MsgReauth:                   {"Log in again", "For your security, log in again before adding a passkey."},
	MsgUpstreamDown:             {"", "The identity provider is not available right now. Please try again later."},
	MsgUnavailable:              {"Temporarily unavailable", "Please try again later."},
	MsgLoginUsed:                {"Login expired", "This login was already used. Go back to the application and start again."},
	MsgLogoutFailed:             {"Temporarily unavailable", "You could not be logged out. Please try again."},
	MsgNoConnector:              {"Not found", "There is no such login method."},
	MsgUnknownClient:            {"Unknown application", "The application that sent you here is not registered with this server."},
	MsgConnectorDown:            {"Temporarily unavailable", "This login method is not available right now. Please try again later."},
	MsgAccountCSRF:              {"Request refused", "The form was not sent by your account page. Open the account page and try again."},
	MsgNoPassword:               {"Not supported", "This login method does not take a password."},
	MsgLinkNeedsLogin:           {"Not logged in", "Log in first, then link another account from your account page."},
	MsgNoMetadata:               {"Not found", "This login method publishes no metadata."},
	MsgNotFound:                 {"Not found", "There is no page at this address."},
	MsgNotLinkable:              {"Not found", "Accounts of this login method cannot be linked."},
	MsgNoUnsolicited:            {"Login not possible", "This login method is not set up to start logins by itself."},
	MsgUpstreamRefused:          {"Login failed", "The identity provider did not confirm who you are."},
	MsgOtherBrowser:             {"Login expired", "This login was started in another browser. Go back to the application and start again."},
	MsgNotStartedHere:           {"Login expired", "This login was not started here. Go back to the application and start again."},
	MsgLinkUsed:                 {"Login expired", "This login was already used. Start again from your account page."},
	MsgLoginElsewhere:           {"Login expired", "This login was already used or went elsewhere. Go back to the application and start again."},
	MsgLoginExpired:             {"Login expired", "This login has expired or was already used. Go back to the application and start again."},
	MsgLoginCSRF:                {"Login expired", "The form was not sent by this login page. Go back to the application and start again."},
	MsgBadLogout:                {"Invalid request", "The logout request could not be read."},
	MsgBadResponse:              {"Invalid request", "The login response could not be read."},
	MsgBadAuthorize:             {"Invalid request", "The authorization request could not be read."},
	MsgBadRedirect:              {"Invalid redirect URI", "The application asked to return you to an address it has not registered."},
	MsgLogoutUnknownClient:      {"Invalid logout request", "The application that sent you here is not known."},
	MsgLogoutBadHint:            {"Invalid logout request", "The application sent an ID token this server did not issue."},
	MsgLogoutBadRedirect:        {"Invalid logout request", "The application asked to return you to an address it has not registered."},
	MsgLogoutOtherClient:        {"Invalid logout request", "The ID token was issued to another application."},
	MsgDisabled:                 {"Account disabled", "Your account is disabled. Contact your administrator."},
	MsgRepeatedParam:            {"Invalid request", "The parameter %s appears more than once."},
	MsgLinkSessionEnded:         {"Not logged in", "Your session ended before the account could be linked. Log in and try again."},
	MsgLinkNotAllowed:           {"Not allowed", "Accounts of this login method cannot be linked."},
	MsgLinkedElsewhere:          {"Already linked", "That account is already linked to another user. Ask an administrator to unlink it first."},
	MsgLinkRace:                 {"Already linked", "That account was linked meanwhile. Open your account page to see where."},
	MsgBadCode:                  {"", "That code is not right. Check the time on your device and try again."},
	MsgBadRecovery:              {"", "That recovery code is not right, or it was already used."},
	MsgBadLogin:                 {"", "Invalid username or password."},
	MsgStoreDown:                {"", "The identity store is not available right now. Please try again later."},
	MsgThrottled:                {"Too many attempts", "Too many attempts. Wait %s, then try again."},
	MsgBodyTooLarge:             {"Request too large", "What was sent is too large for this page. Go back and try again."},
	MsgBodyType:                 {"Request not understood", "What was sent is not a form this page accepts. Go back and try again."},
	MsgIdentityRefused:          {"Login refused", "Your account's details from this login method cannot be accepted here (a name too long, say, or characters that are not allowed). Trying again will not help: ask your administrator to correct the account."},
	MsgPasswordExpired:          {"Password expired", "Your password has expired. Change it with your organisation's password tool, or ask your administrator, then log in again."},
	MsgPasswordMustChange:       {"Password change required", "Your password must be changed before you can log in. Change it with your organisation's password tool, or ask your administrator, then log in again."},
	MsgAccountLocked:            {"Account locked", "Your account is locked. Wait for it to unlock, or ask your administrator to unlock it."},
	"ui.login":                  {"", "Log in"},
	"ui.login_with":             {"", "Log in with"},
	"ui.login_to":               {"", "Log in to %s"},
	"ui.username":               {"", "Username or email"},
	"ui.password":               {"", "Password"},
	"ui.other_ways":             {"", "Other ways to log in"},
	"ui.continue":               {"", "Continue"},
	"ui.mfa_title":              {"", "Two-step verification"},
	"ui.mfa_intro":              {"", "Enter the 6-digit code from your authenticator app."},
	"ui.code":                   {"", "Code"},
	"ui.verify":                 {"", "Verify"},
	"ui.verify_code":            {"", "Verify code"},
	"ui.verify_recovery":        {"", "Verify recovery code"},
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
	"ui.recovery_intro":         {"", "If you lose your authenticator, each of these codes lets you log in once. Keep them somewhere safe: once you continue, they are not shown again."},
	"ui.recovery_lost":          {"", "Your two-step verification is set up, but its recovery codes can no longer be shown. If you did not save them, ask your administrator to reset your two-step verification."},
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
	"ui.scope_other":            {"", "Read your %s"},
	"ui.scope.admin":            {"", "Administer Portico with your full administrator rights"},
	"ui.third_party":            {"", "This application registered itself: it is not one of this organisation's own. Make sure you know it before you go on."},
	"ui.linked_done":            {"", "The account is now linked."},
	"ui.consent_revoked":        {"", "Access revoked."},
	"ui.consent_revoked_app":    {"", "Access for %s revoked."},
	MsgPasskeyFailed:            {"", "The passkey could not be used. Try again, or choose another way."},
	MsgPasskeyCancelled:         {"", "The passkey request was cancelled or timed out. Try again when you are ready."},
	MsgPasskeyUnsupported:       {"", "This browser cannot use passkeys. Choose another way."},
	MsgPasskeyExists:            {"", "This authenticator already holds a passkey for your account."},
	MsgPasskeyExpired:           {"", "The passkey request expired. Try again."},
	MsgPasskeySignCount:         {"", "This passkey was refused because it may have been copied. Choose another way, and tell your administrator."},
	MsgPasskeyNoLogin:           {"Login not possible", "This passkey cannot log you in here. Log in another way."},
	MsgPasskeyNeedsMFA:          {"Log in again", "Log out, log in again with your second factor, then add the passkey."},
	"ui.passkey_create_help":    {"", "Your browser will ask you to create a passkey, with a security key or with your device's fingerprint, face or screen lock."},
	"ui.passkey_get_help":       {"", "Your browser will ask you to confirm with your passkey."},
	"ui.passkey_working":        {"", "Waiting for your passkey…"},
	"ui.passkey_noscript":       {"", "Passkeys need JavaScript. Turn it on, or choose another way."},
	"ui.passkey_other_way":      {"", "Choose another way"},
	"ui.passkey_added":          {"", "The passkey was added."},
	// The device pages.
	MsgDeviceBadCode:          {"", "That code is not valid, or it has expired. Check the code your device shows and try again."},
	MsgDeviceCSRF:             {"Request refused", "The form was not sent by this page. Open the page again and enter the code."},
	MsgDeviceGone:             {"Code expired", "This device code has expired or was already answered. Start again on your device."},
	"ui.device_title":         {"", "Connect a device"},
	"ui.device_intro":         {"", "Enter the code shown on your device."},
	"ui.device_code":          {"", "Code"},
	"ui.device_approve_title": {"", "Approve the device?"},
	"ui.device_approve_intro": {"", "%s on your device asks to:"},
	"ui.device_check":         {"", "Approve only if your device shows this code:"},
	"ui.device_approved":      {"", "Device approved"},
	"ui.device_approved_text": {"", "Your device is now signed in. You can close this page and return to it."},
	"ui.device_denied":        {"", "Device denied"},
	"ui.device_denied_text":   {"", "The device was not given access. You can close this page."},
	"ui.approve":              {"", "Approve"},
	// Durations, in the throttled message.
	"ui.one_second": {"", "1 second"},
	"ui.seconds":    {"", "%d seconds"},
	"ui.minutes":    {"", "%d minutes"},
	"ui.hours":      {"", "%d hours"},
	"ui.days":       {"", "%d days"},
}
