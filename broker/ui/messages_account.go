package ui

// The account page's messages (broker/journey account_*.go): the person's
// second factors, password and sessions.
const (
	MsgPasskeyName          = "passkeyName"
	MsgNoSecondFactor       = "noSecondFactor"
	MsgNoLocalPassword      = "noLocalPassword"
	MsgPasswordCurrent      = "passwordCurrent"
	MsgPasswordEmpty        = "passwordEmpty"
	MsgPasswordTooLong      = "passwordTooLong"
	MsgPasswordMismatch     = "passwordMismatch"
	MsgPasswordWeak         = "passwordWeak"
	MsgPasswordSessionsLeft = "passwordSessionsLeft"
)

var accountMessages = map[string]message{
	MsgPasskeyName:          {"Name not accepted", "A passkey's name must be 1 to 64 characters, without control characters."},
	MsgNoSecondFactor:       {"No second factor", "Recovery codes stand in for a second factor. Set one up first."},
	MsgNoLocalPassword:      {"Not possible here", "Your password is not kept here. Change it where your account is managed."},
	MsgPasswordCurrent:      {"", "The current password is not correct."},
	MsgPasswordEmpty:        {"", "Enter a new password."},
	MsgPasswordTooLong:      {"", "The new password must be at most %s characters long."},
	MsgPasswordMismatch:     {"", "The two new passwords are not the same."},
	MsgPasswordWeak:         {"", "Choose another password: %s"},
	MsgPasswordSessionsLeft: {"Password changed", "Your password was changed, but not all your other sessions could be ended. Use “End other sessions” on your account page."},

	"ui.second_factors":       {"", "Two-step verification"},
	"ui.totp_item":            {"", "Authenticator app"},
	"ui.enrolled_on":          {"", "set up on"},
	"ui.added_on":             {"", "added on"},
	"ui.last_used_on":         {"", "last used on"},
	"ui.never_used":           {"", "not used yet"},
	"ui.no_second_factor":     {"", "You have no second factor. One is set up at a login that needs it."},
	"ui.recovery_codes":       {"", "Recovery codes"},
	"ui.recovery_left":        {"", "Recovery codes left:"},
	"ui.regenerate_recovery":  {"", "Make new recovery codes"},
	"ui.regenerate_help":      {"", "The old codes stop working."},
	"ui.passkey_default_name": {"", "Passkey"},
	"ui.passkey_name":         {"", "Name of"},
	"ui.rename":               {"", "Rename"},
	"ui.remove":               {"", "Remove"},
	"ui.fresh_login_help":     {"", "Changes here may ask you to log in again first."},
	"ui.password":             {"", "Password"},
	"ui.change_password":      {"", "Change your password"},
	"ui.current_password":     {"", "Current password"},
	"ui.new_password":         {"", "New password"},
	"ui.confirm_password":     {"", "New password again"},
	"ui.password_help":        {"", "Your other sessions end when the password is changed; this browser stays logged in."},
	"ui.save_password":        {"", "Change password"},
	"ui.sessions":             {"", "Where you are logged in"},
	"ui.applications":         {"", "Applications"},
	"ui.no_applications":      {"", "No application holds a session of yours."},
	"ui.browsers":             {"", "Browsers"},
	"ui.this_browser":         {"", "This browser"},
	"ui.other_browser":        {"", "Another browser"},
	"ui.in_this_browser":      {"", "(in this browser)"},
	"ui.started":              {"", "since"},
	"ui.last_seen":            {"", "last active"},
	"ui.end":                  {"", "End"},
	"ui.end_others":           {"", "End other sessions"},
	"ui.end_others_help":      {"", "Logs you out everywhere but in this browser."},
	"ui.passkey_renamed":      {"", "The passkey was renamed."},
	"ui.passkey_removed":      {"", "The passkey was removed."},
	"ui.recovery_regenerated": {"", "You have new recovery codes; the old ones no longer work."},
	"ui.password_changed":     {"", "Your password was changed. Your other sessions have ended."},
	"ui.app_ended":            {"", "The application's session has ended."},
	"ui.others_ended":         {"", "Your other sessions have ended."},
}
