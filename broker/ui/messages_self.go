package ui

// The self-service pages' and emails' messages (broker/journey
// selfservice.go), in every language.

// Ids of the self-service messages shown as errors.
const (
	MsgLinkInvalid      = "linkInvalid"
	MsgLinkExpired      = "linkExpired"
	MsgPasswordsDiffer  = "passwordsDiffer"
	MsgPasswordRefused  = "passwordRefused"
	MsgFormCSRF         = "formCSRF"
	MsgLoginNameInvalid = "loginNameInvalid"
	MsgVerifyFirst      = "verifyFirst"
	MsgEmailInvalid     = "emailInvalid"
	MsgEmailDomain      = "emailDomain"
	MsgNameInvalid      = "nameInvalid"
	MsgTermsRequired    = "termsRequired"
	MsgResetFactor      = "resetFactor"
)

var selfMessages = map[string]message{
	MsgLinkInvalid:       {"Link not valid", "This link cannot be used: it was already used, or the account changed since it was sent. Ask for a new one."},
	MsgLinkExpired:       {"Link expired", "This link has expired. Ask for a new one."},
	MsgPasswordsDiffer:   {"", "The two passwords are not the same."},
	MsgPasswordRefused:   {"", "This password is not allowed here. Choose another."},
	MsgFormCSRF:          {"Request refused", "The form was not sent by this page. Open the page again and try again."},
	MsgLoginNameInvalid:  {"", "Enter your username or email address."},
	MsgVerifyFirst:       {"Confirm your email address", "Confirm your email address before you log in: a link to confirm it is on its way to you. No email? Look in your spam folder, or log in again later for a new link."},
	MsgEmailInvalid:      {"", "Enter a valid email address, such as name@example.com."},
	MsgEmailDomain:       {"", "Accounts cannot be created here with an address at this domain."},
	MsgNameInvalid:       {"", "The name is too long or has characters that are not allowed."},
	MsgTermsRequired:     {"", "Accept the terms to create an account."},
	MsgResetFactor:       {"", "That code is not right. Enter the code your authenticator app shows now, or an unused recovery code."},
	"ui.reset_code":      {"", "Code from your authenticator app, or a recovery code"},
	"ui.reset_code_help": {"", "Your account has two-step verification: the new password takes effect only with it."},

	// Why the password policy (broker/password) refused a password, by
	// its violation code.
	"password.too_short":         {"", "The password is too short: use at least %d characters."},
	"password.too_long":          {"", "The password is too long: at most %d bytes."},
	"password.common":            {"", "This password is one of the most common ones. Choose another."},
	"password.contains_username": {"", "The password must not contain your username or email address."},
	"password.weak":              {"", "This password is too easy to guess. Try a longer phrase of unrelated words."},
	"password.invalid":           {"", "The password contains a character that cannot be used (a control character)."},

	"ui.forgot_link":        {"", "Forgot password?"},
	"ui.register_link":      {"", "Create an account"},
	"ui.forgot_title":       {"", "Reset your password"},
	"ui.forgot_intro":       {"", "Enter your username or email address. We will send a link to reset your password to your account's email address."},
	"ui.send_link":          {"", "Send the link"},
	"ui.back_to_login":      {"", "Back to the login"},
	"ui.check_mail_title":   {"", "Check your email"},
	"ui.forgot_sent":        {"", "If an account has this name or address, a link to reset its password is on its way to the account's email address. The link works once, for %s."},
	"ui.reset_title":        {"", "Choose a new password"},
	"ui.reset_intro":        {"", "Choose a new password for your account. Every session of your account ends when it is set."},
	"ui.reset_done_title":   {"", "Password changed"},
	"ui.reset_done":         {"", "Your password is changed and every session of your account has ended. Log in with your new password."},
	"ui.invite_title":       {"", "Set up your account"},
	"ui.invite_intro":       {"", "You were invited to an account here. Choose a password to finish setting it up."},
	"ui.invite_done_title":  {"", "Your account is ready"},
	"ui.invite_done":        {"", "Your password is set. Log in with it now."},
	"ui.new_password":       {"", "New password"},
	"ui.new_password_again": {"", "Repeat the password"},
	"ui.set_password":       {"", "Set the password"},
	"ui.verify_title":       {"", "Confirm your email address"},
	"ui.verify_intro":       {"", "Confirm that %s is your email address."},
	"ui.verify_button":      {"", "Confirm"},
	"ui.verify_done_title":  {"", "Email address confirmed"},
	"ui.verify_done":        {"", "Thank you: %s is confirmed."},
	"ui.register_title":     {"", "Create an account"},
	"ui.email":              {"", "Email address"},
	"ui.name":               {"", "Name (optional)"},
	"ui.terms_accept":       {"", "I accept the"},
	"ui.terms":              {"", "terms of use"},
	"ui.register_button":    {"", "Create the account"},
	"ui.register_sent":      {"", "We sent a link to %s. Open it within %s to confirm your address, then log in."},

	"mail.hello":          {"", "Hello,"},
	"mail.hello_name":     {"", "Hello %s,"},
	"mail.link_help":      {"", "If the button does not work, copy this address into your browser:"},
	"mail.verify.subject": {"", "Confirm your email address for %s"},
	"mail.verify.intro":   {"", "Please confirm that this is your email address for your account at %s."},
	"mail.verify.button":  {"", "Confirm the address"},
	"mail.verify.outro":   {"", "The link works once, for %s. If you did not create an account, ignore this email."},
	"mail.reset.subject":  {"", "Reset your password for %s"},
	"mail.reset.intro":    {"", "Someone, we hope you, asked to reset the password of your account at %s."},
	"mail.reset.button":   {"", "Choose a new password"},
	"mail.reset.outro":    {"", "The link works once, for %s. If you did not ask, ignore this email: your password stays as it is."},
	"mail.invite.subject": {"", "You are invited to %s"},
	"mail.invite.intro":   {"", "An administrator made you an account at %s. Choose your password to start using it."},
	"mail.invite.button":  {"", "Set up my account"},
	"mail.invite.outro":   {"", "The link works once, for %s. If you did not expect this, ignore this email."},
	"mail.exists.subject": {"", "Your account at %s"},
	"mail.exists.intro":   {"", "Someone tried to create an account at %s with this address, which has an account already. If it was you and you forgot your password, choose a new one:"},
	"mail.exists.button":  {"", "Choose a new password"},
	"mail.exists.outro":   {"", "The link works once, for %s. If it was not you, ignore this email: nothing changed."},
}

var germanSelf = map[string]message{
	MsgLinkInvalid:       {"Link ungültig", "Dieser Link kann nicht verwendet werden: Er wurde bereits benutzt, oder das Konto hat sich seit dem Versand geändert. Fordern Sie einen neuen an."},
	MsgLinkExpired:       {"Link abgelaufen", "Dieser Link ist abgelaufen. Fordern Sie einen neuen an."},
	MsgPasswordsDiffer:   {"", "Die beiden Passwörter stimmen nicht überein."},
	MsgPasswordRefused:   {"", "Dieses Passwort ist hier nicht erlaubt. Wählen Sie ein anderes."},
	MsgFormCSRF:          {"Anfrage abgelehnt", "Das Formular wurde nicht von dieser Seite gesendet. Öffnen Sie die Seite erneut und versuchen Sie es noch einmal."},
	MsgLoginNameInvalid:  {"", "Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein."},
	MsgVerifyFirst:       {"Bestätigen Sie Ihre E-Mail-Adresse", "Bestätigen Sie Ihre E-Mail-Adresse, bevor Sie sich anmelden: Ein Link zur Bestätigung ist unterwegs zu Ihnen. Keine E-Mail erhalten? Sehen Sie im Spam-Ordner nach, oder melden Sie sich später erneut an, um einen neuen Link zu erhalten."},
	MsgEmailInvalid:      {"", "Geben Sie eine gültige E-Mail-Adresse ein, etwa name@example.com."},
	MsgEmailDomain:       {"", "Mit einer Adresse dieser Domain können hier keine Konten angelegt werden."},
	MsgNameInvalid:       {"", "Der Name ist zu lang oder enthält nicht erlaubte Zeichen."},
	MsgTermsRequired:     {"", "Akzeptieren Sie die Nutzungsbedingungen, um ein Konto anzulegen."},
	MsgResetFactor:       {"", "Dieser Code ist nicht richtig. Geben Sie den Code ein, den Ihre Authenticator-App jetzt anzeigt, oder einen unbenutzten Wiederherstellungscode."},
	"ui.reset_code":      {"", "Code aus Ihrer Authenticator-App oder ein Wiederherstellungscode"},
	"ui.reset_code_help": {"", "Ihr Konto nutzt Zwei-Faktor-Authentifizierung: Das neue Passwort gilt nur mit ihr."},

	"password.too_short":         {"", "Das Passwort ist zu kurz: Verwenden Sie mindestens %d Zeichen."},
	"password.too_long":          {"", "Das Passwort ist zu lang: höchstens %d Bytes."},
	"password.common":            {"", "Dieses Passwort gehört zu den häufigsten. Wählen Sie ein anderes."},
	"password.contains_username": {"", "Das Passwort darf weder Ihren Benutzernamen noch Ihre E-Mail-Adresse enthalten."},
	"password.weak":              {"", "Dieses Passwort ist zu leicht zu erraten. Versuchen Sie eine längere Folge unzusammenhängender Wörter."},
	"password.invalid":           {"", "Das Passwort enthält ein Zeichen, das nicht verwendet werden kann (ein Steuerzeichen)."},

	"ui.forgot_link":        {"", "Passwort vergessen?"},
	"ui.register_link":      {"", "Konto anlegen"},
	"ui.forgot_title":       {"", "Passwort zurücksetzen"},
	"ui.forgot_intro":       {"", "Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein. Wir senden einen Link zum Zurücksetzen Ihres Passworts an die E-Mail-Adresse Ihres Kontos."},
	"ui.send_link":          {"", "Link senden"},
	"ui.back_to_login":      {"", "Zurück zur Anmeldung"},
	"ui.check_mail_title":   {"", "Sehen Sie in Ihr Postfach"},
	"ui.forgot_sent":        {"", "Falls ein Konto diesen Namen oder diese Adresse hat, ist ein Link zum Zurücksetzen seines Passworts unterwegs an die E-Mail-Adresse des Kontos. Der Link gilt einmal, für %s."},
	"ui.reset_title":        {"", "Neues Passwort wählen"},
	"ui.reset_intro":        {"", "Wählen Sie ein neues Passwort für Ihr Konto. Sobald es gesetzt ist, enden alle Sitzungen Ihres Kontos."},
	"ui.reset_done_title":   {"", "Passwort geändert"},
	"ui.reset_done":         {"", "Ihr Passwort wurde geändert, und alle Sitzungen Ihres Kontos wurden beendet. Melden Sie sich mit dem neuen Passwort an."},
	"ui.invite_title":       {"", "Konto einrichten"},
	"ui.invite_intro":       {"", "Sie wurden zu einem Konto hier eingeladen. Wählen Sie ein Passwort, um es einzurichten."},
	"ui.invite_done_title":  {"", "Ihr Konto ist bereit"},
	"ui.invite_done":        {"", "Ihr Passwort ist gesetzt. Melden Sie sich jetzt damit an."},
	"ui.new_password":       {"", "Neues Passwort"},
	"ui.new_password_again": {"", "Passwort wiederholen"},
	"ui.set_password":       {"", "Passwort setzen"},
	"ui.verify_title":       {"", "E-Mail-Adresse bestätigen"},
	"ui.verify_intro":       {"", "Bestätigen Sie, dass %s Ihre E-Mail-Adresse ist."},
	"ui.verify_button":      {"", "Bestätigen"},
	"ui.verify_done_title":  {"", "E-Mail-Adresse bestätigt"},
	"ui.verify_done":        {"", "Vielen Dank: %s ist bestätigt."},
	"ui.register_title":     {"", "Konto anlegen"},
	"ui.email":              {"", "E-Mail-Adresse"},
	"ui.name":               {"", "Name (optional)"},
	"ui.terms_accept":       {"", "Ich akzeptiere die"},
	"ui.terms":              {"", "Nutzungsbedingungen"},
	"ui.register_button":    {"", "Konto anlegen"},
	"ui.register_sent":      {"", "Wir haben einen Link an %s gesendet. Öffnen Sie ihn innerhalb von %s, um Ihre Adresse zu bestätigen, und melden Sie sich dann an."},

	"mail.hello":          {"", "Guten Tag,"},
	"mail.hello_name":     {"", "Guten Tag %s,"},
	"mail.link_help":      {"", "Falls die Schaltfläche nicht funktioniert, kopieren Sie diese Adresse in Ihren Browser:"},
	"mail.verify.subject": {"", "Bestätigen Sie Ihre E-Mail-Adresse für %s"},
	"mail.verify.intro":   {"", "Bitte bestätigen Sie, dass dies Ihre E-Mail-Adresse für Ihr Konto bei %s ist."},
	"mail.verify.button":  {"", "Adresse bestätigen"},
	"mail.verify.outro":   {"", "Der Link gilt einmal, für %s. Falls Sie kein Konto angelegt haben, ignorieren Sie diese E-Mail."},
	"mail.reset.subject":  {"", "Passwort zurücksetzen für %s"},
	"mail.reset.intro":    {"", "Jemand, hoffentlich Sie, hat das Zurücksetzen des Passworts Ihres Kontos bei %s angefordert."},
	"mail.reset.button":   {"", "Neues Passwort wählen"},
	"mail.reset.outro":    {"", "Der Link gilt einmal, für %s. Falls Sie das nicht angefordert haben, ignorieren Sie diese E-Mail: Ihr Passwort bleibt unverändert."},
	"mail.invite.subject": {"", "Sie sind zu %s eingeladen"},
	"mail.invite.intro":   {"", "Ein Administrator hat für Sie ein Konto bei %s angelegt. Wählen Sie Ihr Passwort, um es zu nutzen."},
	"mail.invite.button":  {"", "Konto einrichten"},
	"mail.invite.outro":   {"", "Der Link gilt einmal, für %s. Falls Sie das nicht erwartet haben, ignorieren Sie diese E-Mail."},
	"mail.exists.subject": {"", "Ihr Konto bei %s"},
	"mail.exists.intro":   {"", "Jemand hat versucht, bei %s ein Konto mit dieser Adresse anzulegen, zu der es bereits ein Konto gibt. Falls Sie es waren und Ihr Passwort vergessen haben, wählen Sie ein neues:"},
	"mail.exists.button":  {"", "Neues Passwort wählen"},
	"mail.exists.outro":   {"", "Der Link gilt einmal, für %s. Falls Sie es nicht waren, ignorieren Sie diese E-Mail: Es hat sich nichts geändert."},
}
