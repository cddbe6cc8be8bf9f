package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

// Invitations: an account created with "invite": true has no password;
// the journey mails its address a link to choose one (docs/
// self-service.md). POST /accounts/{id}/invitation mails a new link, for
// one lost or expired.

// Texts of the invitation answers.
var (
	errInviteHasPassword = "the account has a password: set a new one, or let its owner reset it"
	errInviteTooMany     = "the account was sent too many links this hour"
)

// invite mails the invitation of the account just created into v; a
// failure leaves the account, which POST .../invitation can invite again.
func (api *API) invite(c *gin.Context, id string, v *adminAccount) {
	exp, err := api.opts.Invitations.SendInvitation(c.Request.Context(), id)
	if err != nil {
		api.log.Error("admin: mail invitation", "account_id", id, "err", err)
		return
	}
	v.InvitationExpires = &exp
	api.adminAudit(c, "account_invite", store.AuditEvent{Details: map[string]string{"account_id": id}})
}

func (api *API) adminInvite(c *gin.Context) {
	ctx := c.Request.Context()
	if api.opts.Invitations == nil {
		adminError(c, http.StatusBadRequest, "invalid_request", "no mail server is configured (mail)")
		return
	}
	a, err := api.store.GetLocalAccount(ctx, c.Param("id"))
	if !api.adminCheck(c, "account", err) {
		return
	}
	switch {
	case a.PasswordHash != "":
		adminError(c, http.StatusConflict, "conflict", errInviteHasPassword)
		return
	case a.Email == "":
		adminError(c, http.StatusConflict, "conflict", "the account has no email address")
		return
	}
	exp, err := api.opts.Invitations.SendInvitation(ctx, a.ID)
	var tooMany interface{ TooManyMails() bool }
	switch {
	case errors.As(err, &tooMany) && tooMany.TooManyMails():
		c.Header("Retry-After", "3600")
		adminError(c, http.StatusTooManyRequests, "too_many_requests", errInviteTooMany)
		return
	case err != nil:
		api.adminFail(c, "mail invitation", err)
		return
	}
	api.adminAudit(c, "account_invite", store.AuditEvent{Details: map[string]string{"account_id": a.ID}})
	c.JSON(http.StatusAccepted, gin.H{"account_id": a.ID, "invitation_expires": exp.UTC().Format(time.RFC3339)})
}
