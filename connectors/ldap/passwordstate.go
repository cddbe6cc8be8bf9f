package ldap

// Password states: an expired password, one that must be changed, a
// locked account. The directory says so in its answer to the user's bind:
// OpenLDAP's ppolicy overlay in the password policy response control
// (draft-behera-ldap-password-policy), Active Directory in the diagnostic
// message of invalidCredentials ("... data 532, v4563"). Portico shows the
// person the state only when it knows the password was right, so that a
// guesser learns nothing: see stateOf.

import (
	"context"
	"errors"
	"strconv"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portico-idp/portico/sdk"
)

// Active Directory's bind diagnostic codes (the "data" field, in hex).
const (
	adPasswordExpired = "532" // ERROR_PASSWORD_EXPIRED: only after a right password
	adMustChange      = "773" // ERROR_PASSWORD_MUST_CHANGE: only after a right password
	adLocked          = "775" // ERROR_ACCOUNT_LOCKED_OUT: whatever the password
)

// Bits of Active Directory's userAccountControl and
// msDS-User-Account-Control-Computed.
const (
	uacAccountDisable  = 0x2
	uacLockout         = 0x10
	uacPasswordExpired = 0x800000
)

// adDataCode finds the "data XXX" field of an Active Directory bind error
// message ("80090308: LdapErr: DSID-0C09044E, comment:
// AcceptSecurityContext error, data 52e, v4563"): the hex digits after
// "data ", lowercased, at most 8 of them. ok is false when there is none.
func adDataCode(msg string) (code string, ok bool) {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	for rest := msg; ; {
		i := strings.Index(rest, "data ")
		if i < 0 {
			return "", false
		}
		// "data" must start a word: not "metadata ".
		if i > 0 && rest[i-1] != ' ' && rest[i-1] != ',' {
			rest = rest[i+5:]
			continue
		}
		rest = rest[i+5:]
		n := 0
		for n < len(rest) && n < 9 && isHex(rest[n]) {
			n++
		}
		if n == 0 || n > 8 || (n < len(rest) && rest[n] != ',' && rest[n] != ' ') {
			continue
		}
		return strings.ToLower(rest[:n]), true
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// policyControl is the password policy response control of a bind, or nil.
func policyControl(res *goldap.SimpleBindResult) *goldap.ControlBeheraPasswordPolicy {
	if res == nil {
		return nil
	}
	if c, ok := goldap.FindControl(res.Controls, goldap.ControlTypeBeheraPasswordPolicy).(*goldap.ControlBeheraPasswordPolicy); ok {
		return c
	}
	return nil
}

// Behera error values (draft-behera-ldap-password-policy-10, 6.2).
const (
	beheraPasswordExpired  = 0
	beheraAccountLocked    = 1
	beheraChangeAfterReset = 2
)

// refusedState says what a bind the directory refused with
// invalidCredentials means, or nil for a plain wrong password. Expired
// and must-change are told only after the password checked out (both
// directories check it first); a lock is told by both whatever the
// password, so it stays "invalid credentials" unless reveal_locked.
func (c *Connector) refusedState(ctx context.Context, dn string, res *goldap.SimpleBindResult, err error) error {
	var state error
	var locked bool
	if pc := policyControl(res); pc != nil {
		switch pc.Error {
		case beheraPasswordExpired:
			state = sdk.ErrPasswordExpired
		case beheraChangeAfterReset:
			state = sdk.ErrPasswordMustChange
		case beheraAccountLocked:
			locked = true
		}
	}
	var le *goldap.Error
	if state == nil && !locked && asLDAPError(err, &le) {
		if code, ok := adDataCode(le.Err.Error()); ok {
			switch code {
			case adPasswordExpired:
				state = sdk.ErrPasswordExpired
			case adMustChange:
				state = sdk.ErrPasswordMustChange
			case adLocked:
				locked = true
			}
		}
	}
	if locked {
		if !c.cfg.RevealLocked {
			c.log.InfoContext(ctx, "ldap: login refused: the directory says the account is locked (shown as invalid credentials: the directory does not say whether the password was right; see reveal_locked)", "dn", dn)
			return nil
		}
		state = sdk.ErrAccountLocked
	}
	if state != nil {
		c.log.InfoContext(ctx, "ldap: login refused: "+state.Error(), "dn", dn)
	}
	return state
}

// acceptedState says what a successful bind means: OpenLDAP accepts the
// bind of a reset password but restricts the session until it is changed
// (changeAfterReset), and reports grace logins left after expiry, which
// are logged.
func (c *Connector) acceptedState(ctx context.Context, dn string, res *goldap.SimpleBindResult) error {
	pc := policyControl(res)
	if pc == nil {
		return nil
	}
	if pc.Error == beheraChangeAfterReset {
		c.log.InfoContext(ctx, "ldap: login refused: password must be changed", "dn", dn)
		return sdk.ErrPasswordMustChange
	}
	if pc.Grace >= 0 {
		c.log.WarnContext(ctx, "ldap: password expired; logged in on a grace login", "dn", dn, "grace_logins_left", pc.Grace)
	} else if pc.Expire >= 0 {
		c.log.InfoContext(ctx, "ldap: password expires soon", "dn", dn, "seconds", pc.Expire)
	}
	return nil
}

// accountControl checks the account control attribute of a user whose
// password was right. disabled is refused like a disabled account; the
// lockout and password-expired bits are states.
func (c *Connector) accountControl(ctx context.Context, e *goldap.Entry) (disabled bool, state error) {
	a := c.cfg.UserSearch.AccountControlAttribute
	if a == "" {
		return false, nil
	}
	v := text(e, a)
	if v == "" {
		return false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		c.log.WarnContext(ctx, "ldap: account control attribute is not a number; ignored", "dn", e.DN, "attribute", a)
		return false, nil
	}
	switch {
	case n&uacAccountDisable != 0:
		return true, nil
	case n&uacLockout != 0:
		return false, sdk.ErrAccountLocked
	case n&uacPasswordExpired != 0:
		return false, sdk.ErrPasswordExpired
	}
	return false, nil
}

func asLDAPError(err error, le **goldap.Error) bool {
	return errors.As(err, le) && (*le).Err != nil
}
