package broker_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/mfa"
	"github.com/portico-idp/portico/testenv"
)

// The device grant in Chromium (issue 17, acceptance 1): a person enters
// the code a device shows, logs in through the ordinary journey and
// approves on a page that names the application and shows the code; the
// device's poll then gets the tokens. Every page passes axe-core.

// enterDeviceCode opens the verification URI, types the code as people
// do (lower case, a space for the dash) and submits it.
func (j *walk) enterDeviceCode(d deviceAuth, shot string) {
	j.t.Helper()
	j.must(j.br.Navigate(j.ctx, d.URI))
	j.page(shot, "Connect a device")
	j.must(j.br.Fill(j.ctx, "#user_code", strings.ToLower(strings.Replace(d.UserCode, "-", " ", 1))))
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
}

// approveDevice checks the approval page (the application, the code) and
// answers it.
func (j *walk) approveDevice(d deviceAuth, shot, answer string) {
	j.t.Helper()
	j.page(shot, "Approve the device?")
	if got := j.text("#user-code"); got != d.UserCode {
		j.t.Fatalf("approval page shows code %q, the device %q", got, d.UserCode)
	}
	if intro := j.text("#device-intro"); !strings.Contains(intro, "Living Room TV") {
		j.t.Errorf("approval page does not name the application: %q", intro)
	}
	j.must(j.br.Click(j.ctx, `button[value="`+answer+`"]`))
}

// TestBrowserDeviceLocal: the local connector; a wrong code is refused on
// the page; a second device in the same browser is served by its single
// sign-on session (no password) but still asks for approval, and a denial
// reaches the device.
func TestBrowserDeviceLocal(t *testing.T) {
	b := testenv.StartLocalhost(t, deviceConfig(t))
	j := newJourney(t, b)

	// A wrong code first: refused, the page says so.
	j.must(j.br.Navigate(j.ctx, b.URL+"/device"))
	j.page("device", "Connect a device")
	j.code("#user_code", "BCDF-GHJK")
	j.alert("device-wrong-code", "Connect a device", "not valid")

	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid profile offline_access"}})
	j.enterDeviceCode(d, "device-enter")
	j.page("device-login", "Log in")
	j.password(testenv.UserName, testenv.UserPassword)
	j.approveDevice(d, "device-approve", "allow")
	j.page("device-approved", "Device approved")
	tok := poll(t, b.URL, d.DeviceCode)
	if tok.Status != 200 || tok.str("id_token") == "" || tok.str("refresh_token") == "" {
		t.Fatalf("poll after approval: %d %v", tok.Status, tok.Body)
	}

	// The second device: the session serves the login, not the approval.
	d2 := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	j.enterDeviceCode(d2, "device-enter-sso")
	j.approveDevice(d2, "device-approve-sso", "deny")
	j.page("device-denied", "Device denied")
	pollErr(t, b.URL, d2.DeviceCode, "access_denied")
}

// TestBrowserDeviceLDAPMFA: the LDAP connector with a second factor the
// policy requires of the device's client: enrolment of TOTP on the way,
// and the device's id_token says mfa.
func TestBrowserDeviceLDAPMFA(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := deviceConfig(t)
	cfg.Connectors = []config.Connector{ldapCorp(s, true)}
	cfg.Login.MFA.Clients = []string{deviceClient}
	b := testenv.StartLocalhost(t, cfg)
	j := newJourney(t, b)

	d := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid email"}})
	j.enterDeviceCode(d, "device-ldap-enter")
	j.page("device-ldap-login", "Log in")
	j.password(testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
	j.page("device-mfa-enrol", "Set up two-step verification")
	secret := j.totpSecret()
	j.code("#code", mfa.Code(secret, time.Now()))
	j.page("device-recovery-codes", "Save your recovery codes")
	j.must(j.br.Click(j.ctx, `form button[type="submit"]`))
	j.approveDevice(d, "device-ldap-approve", "allow")
	j.page("device-ldap-approved", "Device approved")

	tok := poll(t, b.URL, d.DeviceCode)
	if tok.Status != 200 {
		t.Fatalf("poll after approval: %d %v", tok.Status, tok.Body)
	}
	c := jwtClaims(t, tok.str("id_token"))
	if c["email"] != testenv.LDAPAlice.Mail || !slices.Contains(toStrings(c["amr"]), "mfa") {
		t.Errorf("id_token of the device: email %v, amr %v", c["email"], c["amr"])
	}

	// A fresh browser: the enrolled factor is asked for, a code accepted.
	d2 := authorizeDevice(t, b.URL, deviceClient, "", url.Values{"scope": {"openid"}})
	j2 := newJourney(t, b)
	j2.enterDeviceCode(d2, "device-ldap-enter-2")
	j2.password(testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
	j2.page("device-mfa", "Two-step verification")
	j2.code("#code", mfa.Code(secret, time.Now().Add(mfa.Period)))
	j2.approveDevice(d2, "device-ldap-approve-2", "allow")
	j2.page("device-ldap-approved-2", "Device approved")
	if tok := poll(t, b.URL, d2.DeviceCode); tok.Status != 200 {
		t.Fatalf("second poll: %d %v", tok.Status, tok.Body)
	}
}
