package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// Local accounts are the passwords Portico keeps itself (the local
// connector's). The API creates them, lists them, sets their passwords and
// deletes them; the canonical user appears at the account's first login,
// like any other.

// adminAccount is a local account as the API shows it: never its hash.
type adminAccount struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email,omitempty"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	Groups        []string  `json:"groups,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	// InvitationExpires is when the invitation just mailed stops working
	// (only in the answer that mailed it).
	InvitationExpires *time.Time `json:"invitation_expires,omitempty"`
	// ManagedBy is "file" for an account the configuration file manages
	// (declarative: true; managed.go), read-only here.
	ManagedBy string `json:"managed_by,omitempty"`
}

// adminAccountInput is the body of POST /accounts.
type adminAccountInput struct {
	Username string   `json:"username"`
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Groups   []string `json:"groups"`
	Password string   `json:"password"`
	// PasswordHash imports a hash instead (password_hash.go).
	PasswordHash string `json:"password_hash"`
	// Invite, instead of a password, mails the address a link to choose
	// one (invite.go).
	Invite bool `json:"invite"`
}

// maxPassword bounds what is hashed: argon2 takes any length, but a
// megabyte "password" is a request to burn CPU.
const maxPassword = 1024

// maxEmail is RFC 5321's bound of a path, which mail to the account must
// fit.
const maxEmail = 254

func accountView(a store.LocalAccount) adminAccount {
	return adminAccount{ID: a.ID, Username: a.Username, Email: a.Email, EmailVerified: a.EmailVerified,
		Name: a.Name, Groups: a.Groups, CreatedAt: a.CreatedAt}
}

// checkPassword is the rule for passwords set through the API.
func checkPassword(p string) string {
	switch {
	case p == "":
		return "password is required"
	case len(p) > maxPassword:
		return "password is longer than 1024 bytes"
	}
	return ""
}

// checkAccount applies the configuration file's rules for users.
func checkAccount(in adminAccountInput) string {
	if msg := config.CheckUsername(in.Username); msg != "" {
		return "username: " + msg
	}
	if msg := config.CheckDisplayName(in.Name); msg != "" {
		return "name: " + msg
	}
	if in.Email != "" {
		if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email || a.Name != "" {
			return "email is not a plain email address"
		}
		if len(in.Email) > maxEmail {
			return "email is longer than 254 bytes (RFC 5321): no mail could reach it"
		}
	}
	if errs := config.CheckGroups("groups", in.Groups); len(errs) > 0 {
		return errs[0].Path + ": " + errs[0].Message
	}
	if in.Invite {
		switch {
		case in.Password != "" || in.PasswordHash != "":
			return "invite: give no password or password_hash: the person chooses it"
		case in.Email == "":
			return "invite: an email address is required"
		}
		return ""
	}
	return checkPasswordInput(in.Password, in.PasswordHash)
}

// adminListAccounts lists the local accounts; ?login= finds one by
// username or email.
func (api *API) adminListAccounts(c *gin.Context) {
	ctx := c.Request.Context()
	var accs []store.LocalAccount
	login, ok := adminSearch(c, "login")
	if !ok {
		return
	}
	if login != "" {
		a, err := api.store.GetLocalAccountByLogin(ctx, login)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			api.adminFail(c, "find account", err)
			return
		}
		if err == nil {
			accs = append(accs, a)
		}
	} else {
		var err error
		if accs, err = api.store.ListLocalAccounts(ctx); err != nil {
			api.adminFail(c, "list accounts", err)
			return
		}
	}
	slices.SortFunc(accs, func(x, y store.LocalAccount) int { return strings.Compare(x.Username, y.Username) })
	out := make([]adminAccount, 0, len(accs))
	for _, a := range accs {
		v := accountView(a)
		v.ManagedBy = api.managedBy("account", a.ID)
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"accounts": out})
}

func (api *API) adminGetAccount(c *gin.Context) {
	a, err := api.store.GetLocalAccount(c.Request.Context(), c.Param("id"))
	if !api.adminCheck(c, "account", err) {
		return
	}
	v := accountView(a)
	v.ManagedBy = api.managedBy("account", a.ID)
	c.JSON(http.StatusOK, v)
}

func (api *API) adminCreateAccount(c *gin.Context) {
	var in adminAccountInput
	if !adminBind(c, &in) {
		return
	}
	if msg := checkAccount(in); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	if in.Invite && api.opts.Invitations == nil {
		adminError(c, http.StatusBadRequest, "invalid_request", "invite: no mail server is configured (mail)")
		return
	}
	var hash string
	if !in.Invite {
		if !api.checkPolicy(c, in.Password, in.Username, in.Email) {
			return
		}
		var err error
		if hash, err = api.storedHash(in.Password, in.PasswordHash); err != nil {
			api.adminFail(c, "hash password", err)
			return
		}
	}
	// An invited address counts as verified when its link is used.
	a := store.LocalAccount{ID: NewAccountID(), Username: in.Username, Email: in.Email, EmailVerified: in.Email != "" && !in.Invite,
		Name: in.Name, Groups: in.Groups, PasswordHash: hash, CreatedAt: api.opts.Now().UTC().Truncate(time.Microsecond)}
	ctx := c.Request.Context()
	// A login name finds an account by username, then by email: a username
	// that is another account's email (or an email that is another's
	// username) would take over that account's login.
	if o, err := api.store.GetLocalAccountByLogin(ctx, a.Username); err == nil && o.Username != a.Username && strings.EqualFold(o.Email, a.Username) {
		adminError(c, http.StatusConflict, "conflict", fmt.Sprintf("username %q is account %q's email", a.Username, o.Username))
		return
	}
	if a.Email != "" {
		if o, err := api.store.GetLocalAccountByLogin(ctx, a.Email); err == nil && strings.EqualFold(o.Username, a.Email) {
			adminError(c, http.StatusConflict, "conflict", fmt.Sprintf("email %q is account %q's username", a.Email, o.Username))
			return
		}
	}
	if err := api.store.CreateLocalAccount(ctx, a); errors.Is(err, store.ErrAlreadyExists) {
		// The caller administers every account: saying which one is in
		// the way tells it nothing it could not list.
		msg := "an account with this username or email exists"
		if o, err := api.store.GetLocalAccountByLogin(ctx, a.Username); err == nil && o.Username == a.Username {
			msg = fmt.Sprintf("an account with username %q already exists", a.Username)
		} else if o, err := api.store.GetLocalAccountByLogin(ctx, a.Email); err == nil && a.Email != "" && strings.EqualFold(o.Email, a.Email) {
			msg = fmt.Sprintf("email %q already belongs to account %q", a.Email, o.Username)
		}
		adminError(c, http.StatusConflict, "conflict", msg)
		return
	} else if err != nil {
		api.adminFail(c, "create account", err)
		return
	}
	api.adminAudit(c, "account_create", store.AuditEvent{Details: hashDetail(map[string]string{"account_id": a.ID, "username": a.Username}, in.PasswordHash)})
	v := accountView(a)
	if in.Invite {
		api.invite(c, a.ID, &v)
	}
	c.JSON(http.StatusCreated, v)
}

// adminSetPassword sets an account's password. The user's sessions stay:
// ending them is a separate, explicit call (DELETE /users/{id}/sessions).
func (api *API) adminSetPassword(c *gin.Context) {
	var in struct {
		Password     string `json:"password"`
		PasswordHash string `json:"password_hash"` // password_hash.go
	}
	if !adminBind(c, &in) {
		return
	}
	if msg := checkPasswordInput(in.Password, in.PasswordHash); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	// The policy needs the account's username and email: a password
	// built from them is refused.
	ctx := c.Request.Context()
	a, err := api.store.GetLocalAccount(ctx, c.Param("id"))
	if !api.adminCheck(c, "account", err) || !api.checkPolicy(c, in.Password, a.Username, a.Email) {
		return
	}
	hash, err := api.storedHash(in.Password, in.PasswordHash)
	if err != nil {
		api.adminFail(c, "hash password", err)
		return
	}
	for range core.Retries {
		a, err := api.store.GetLocalAccount(ctx, c.Param("id"))
		if !api.adminCheck(c, "account", err) {
			return
		}
		a.PasswordHash = hash
		err = api.store.UpdateLocalAccount(ctx, a)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if !api.adminCheck(c, "account", err) {
			return
		}
		api.adminAudit(c, "account_password", store.AuditEvent{Details: hashDetail(map[string]string{"account_id": a.ID, "username": a.Username}, in.PasswordHash)})
		c.Status(http.StatusNoContent)
		return
	}
	api.adminCheck(c, "account", core.ErrTooManyRetries)
}

func (api *API) adminDeleteAccount(c *gin.Context) {
	ctx := c.Request.Context()
	a, err := api.store.GetLocalAccount(ctx, c.Param("id"))
	if !api.adminCheck(c, "account", err) {
		return
	}
	if !api.adminCheck(c, "account", api.store.DeleteLocalAccount(ctx, a.ID)) {
		return
	}
	api.adminAudit(c, "account_delete", store.AuditEvent{Details: map[string]string{"account_id": a.ID, "username": a.Username}})
	c.Status(http.StatusNoContent)
}

// hashPassword hashes with the configured function.
func (api *API) hashPassword(p string) (string, error) {
	if api.opts.HashPassword == nil {
		return "", errors.New("no password hasher configured")
	}
	return api.opts.HashPassword(p)
}

// NewAccountID returns a new local account id: random, so that it never
// says who the person is, and free of '-' for readability in URLs.
func NewAccountID() string { return strings.ReplaceAll(tokensvc.NewID(), "-", "x") }
