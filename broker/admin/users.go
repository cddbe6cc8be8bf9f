package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// adminIdentity is an identity as the API shows it: without ConnectorData,
// which may hold upstream tokens.
type adminIdentity struct {
	ConnectorID   string              `json:"connector_id"`
	Subject       string              `json:"subject"`
	UserID        string              `json:"user_id"`
	Username      string              `json:"username,omitempty"`
	Email         string              `json:"email,omitempty"`
	EmailVerified bool                `json:"email_verified"`
	Name          string              `json:"name,omitempty"`
	Groups        []string            `json:"groups,omitempty"`
	Attributes    map[string][]string `json:"attributes,omitempty"`
	LastSeen      time.Time           `json:"last_seen"`
}

// adminSession is a refresh family without its token hashes.
type adminSession struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	ConnectorID string    `json:"connector_id"`
	Scopes      []string  `json:"scopes"`
	AuthTime    time.Time `json:"auth_time"`
	CreatedAt   time.Time `json:"created_at"`
	RotatedAt   time.Time `json:"rotated_at"`
	Expiry      time.Time `json:"expiry"`
	Refresh     bool      `json:"refresh"` // it has a live refresh token
	Revoked     bool      `json:"revoked"`
}

// adminUserPatch holds the fields PATCH may change; absent ones stay.
type adminUserPatch struct {
	Disabled    *bool     `json:"disabled"`
	Roles       *[]string `json:"roles"`
	LocalGroups *[]string `json:"local_groups"`
}

// adminListUsers pages users in id order; cursor is the next_cursor of
// the previous page (userCursor), q a case-insensitive substring of
// username or email.
func (api *API) adminListUsers(c *gin.Context) {
	limit, ok := adminLimit(c)
	if !ok {
		return
	}
	q, ok := adminSearch(c, "q")
	if !ok {
		return
	}
	q = strings.ToLower(q)
	after, ok := parseUserCursor(c.Query("cursor"))
	if !ok {
		adminError(c, http.StatusBadRequest, "invalid_request", "cursor: not a next_cursor this API gave")
		return
	}
	users, err := api.store.ListUsers(c.Request.Context())
	if err != nil {
		api.adminFail(c, "list users", err)
		return
	}
	slices.SortFunc(users, func(x, y store.User) int { return strings.Compare(x.ID, y.ID) })
	page := []store.User{}
	next := ""
	for _, u := range users {
		if after != "" && u.ID <= after {
			continue
		}
		if q != "" && !strings.Contains(strings.ToLower(u.Username), q) && !strings.Contains(strings.ToLower(u.Email), q) {
			continue
		}
		if len(page) == limit {
			next = userCursor(page[len(page)-1].ID)
			break
		}
		page = append(page, u)
	}
	c.JSON(http.StatusOK, gin.H{"users": page, "next_cursor": next})
}

// A user list's cursor is opaque to callers: the base64url of
// userCursorTag and the last user id of the page. The tag lets a cursor
// the API did not give (a user id, a typo, another list's) be refused
// with 400 rather than silently page from somewhere else.
const userCursorTag = "users-after:"

func userCursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(userCursorTag + lastID))
}

// parseUserCursor returns the user id a cursor pages after ("" for none)
// and whether raw is a cursor userCursor could have made.
func parseUserCursor(raw string) (string, bool) {
	if raw == "" {
		return "", true
	}
	if len(raw) > 1024 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return "", false
	}
	id, ok := strings.CutPrefix(string(b), userCursorTag)
	if !ok || id == "" || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return "", false
	}
	return id, true
}

func (api *API) adminGetUser(c *gin.Context) {
	u, err := api.store.GetUser(c.Request.Context(), c.Param("id"))
	if !api.adminCheck(c, "user", err) {
		return
	}
	c.JSON(http.StatusOK, u)
}

// adminPatchUser changes disabled, roles and local groups. Disabling also
// ends the user's sessions, so its live access tokens stop working too.
func (api *API) adminPatchUser(c *gin.Context) {
	var p adminUserPatch
	if !adminBind(c, &p) {
		return
	}
	// The file's rules for a user's groups (config.CheckGroups): what the
	// API stores goes into every token of the user.
	for _, l := range []struct {
		field string
		list  *[]string
	}{{"roles", p.Roles}, {"local_groups", p.LocalGroups}} {
		if l.list == nil {
			continue
		}
		if errs := config.CheckGroups(l.field, *l.list); len(errs) > 0 {
			adminError(c, http.StatusBadRequest, "invalid_request", errs[0].Path+": "+errs[0].Message)
			return
		}
	}
	ctx := c.Request.Context()
	var u store.User
	err := core.ErrTooManyRetries
	for range core.Retries {
		if u, err = api.store.GetUser(ctx, c.Param("id")); err != nil {
			break
		}
		if p.Disabled != nil {
			u.Disabled = *p.Disabled
		}
		if p.Roles != nil {
			u.Roles = *p.Roles
		}
		if p.LocalGroups != nil {
			u.LocalGroups = *p.LocalGroups
		}
		if err = api.store.UpdateUser(ctx, u); !errors.Is(err, store.ErrConflict) {
			break
		}
		err = core.ErrTooManyRetries
	}
	if !api.adminCheck(c, "user", err) {
		return
	}
	u.Version++
	details := map[string]string{}
	if p.Disabled != nil {
		details["disabled"] = strconv.FormatBool(*p.Disabled)
	}
	if p.Roles != nil {
		details["roles"] = strings.Join(u.Roles, " ")
	}
	if p.LocalGroups != nil {
		details["local_groups"] = strings.Join(u.LocalGroups, " ")
	}
	api.adminAudit(c, "user_update", store.AuditEvent{UserID: u.ID, Details: details})
	if u.Disabled {
		if _, err := api.RevokeUserSessions(ctx, u.ID); err != nil {
			api.adminFail(c, "revoke sessions of a disabled user", err)
			return
		}
	}
	c.JSON(http.StatusOK, u)
}

// adminDeleteUser ends the user's sessions, then deletes it and its
// identities; its next login through a connector makes a new user.
func (api *API) adminDeleteUser(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := api.store.GetUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	if _, err := api.RevokeUserSessions(ctx, id); err != nil {
		api.adminFail(c, "revoke sessions", err)
		return
	}
	if err := api.store.DeleteUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	api.adminAudit(c, "user_delete", store.AuditEvent{UserID: id})
	c.Status(http.StatusNoContent)
}

func (api *API) adminListIdentities(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := api.store.GetUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	ids, err := api.store.ListIdentities(ctx, id)
	if err != nil {
		api.adminFail(c, "list identities", err)
		return
	}
	out := make([]adminIdentity, 0, len(ids))
	for _, i := range ids {
		out = append(out, adminIdentity{
			ConnectorID: i.ConnectorID, Subject: i.Subject, UserID: i.UserID, Username: i.Username,
			Email: i.Email, EmailVerified: i.EmailVerified, Name: i.Name, Groups: i.Groups,
			Attributes: i.Attributes, LastSeen: i.LastSeen,
		})
	}
	c.JSON(http.StatusOK, gin.H{"identities": out})
}

// adminUnlinkIdentity removes one upstream identity from a user: the next
// login through it makes a new user (or links again, if a linking policy
// says so). The user's sessions through that connector end with it.
func (api *API) adminUnlinkIdentity(c *gin.Context) {
	ctx := c.Request.Context()
	userID, connectorID, subject := c.Param("id"), c.Param("connector"), c.Param("subject")
	ident, err := api.store.GetIdentity(ctx, connectorID, subject)
	if err == nil && ident.UserID != userID {
		err = store.ErrNotFound
	}
	if !api.adminCheck(c, "identity", err) {
		return
	}
	fams, err := api.store.ListRefreshFamilies(ctx, userID)
	if err != nil {
		api.adminFail(c, "list sessions", err)
		return
	}
	for _, f := range fams {
		if f.ConnectorID == connectorID && !f.Revoked {
			if err := api.tokens.RevokeFamily(ctx, f.ID); err != nil {
				api.adminFail(c, "end session", err)
				return
			}
		}
	}
	if !api.adminCheck(c, "identity", api.store.DeleteIdentity(ctx, connectorID, subject)) {
		return
	}
	api.adminAudit(c, "identity_unlink", store.AuditEvent{UserID: userID, ConnectorID: connectorID})
	c.Status(http.StatusNoContent)
}

func (api *API) adminListSessions(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := api.store.GetUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	fams, err := api.store.ListRefreshFamilies(ctx, id)
	if err != nil {
		api.adminFail(c, "list sessions", err)
		return
	}
	out := make([]adminSession, 0, len(fams))
	for _, f := range fams {
		out = append(out, adminSession{
			ID: f.ID, ClientID: f.ClientID, ConnectorID: f.ConnectorID, Scopes: f.Scopes,
			AuthTime: f.AuthTime, CreatedAt: f.CreatedAt, RotatedAt: f.RotatedAt, Expiry: f.Expiry, Revoked: f.Revoked,
			Refresh: f.Current != "",
		})
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

// adminRevokeSessions ends every session of the user: its refresh tokens
// and the access tokens issued in them stop working.
func (api *API) adminRevokeSessions(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := api.store.GetUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	n, err := api.RevokeUserSessions(ctx, id)
	if err != nil {
		api.adminFail(c, "revoke sessions", err)
		return
	}
	// Browsers' single sign-on sessions too, or the next authorization
	// would log the user in again without a password.
	if _, err := api.browsers.EndUserSessions(ctx, id); err != nil {
		api.adminFail(c, "end browser sessions", err)
		return
	}
	api.adminAudit(c, "user_sessions_revoke", store.AuditEvent{UserID: id, Details: map[string]string{"sessions": strconv.Itoa(n)}})
	c.JSON(http.StatusOK, gin.H{"revoked": n})
}

// adminResetMFA removes a user's second factors (TOTP, passkeys, recovery
// codes), for a person who lost them: the next login that needs one
// enrols again. The user's sessions end, since they were opened with the
// old factors.
func (api *API) adminResetMFA(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	if _, err := api.store.GetUser(ctx, id); !api.adminCheck(c, "user", err) {
		return
	}
	if err := api.browsers.ResetMFA(ctx, id); err != nil {
		api.adminFail(c, "reset second factors", err)
		return
	}
	if _, err := api.RevokeUserSessions(ctx, id); err != nil {
		api.adminFail(c, "revoke sessions", err)
		return
	}
	if _, err := api.browsers.EndUserSessions(ctx, id); err != nil {
		api.adminFail(c, "end browser sessions", err)
		return
	}
	api.adminAudit(c, "user_mfa_reset", store.AuditEvent{UserID: id})
	c.Status(http.StatusNoContent)
}

// adminRevokeSession ends one session of the user.
func (api *API) adminRevokeSession(c *gin.Context) {
	ctx := c.Request.Context()
	f, err := api.store.GetRefreshFamily(ctx, c.Param("session"))
	if err == nil && (f.UserID != c.Param("id") || f.Revoked) {
		err = store.ErrNotFound // another user's, or over: not this user's live session
	}
	if !api.adminCheck(c, "session", err) {
		return
	}
	if err := api.tokens.RevokeFamily(ctx, f.ID); err != nil {
		api.adminFail(c, "revoke session", err)
		return
	}
	api.adminAudit(c, "user_sessions_revoke", store.AuditEvent{UserID: f.UserID, ClientID: f.ClientID,
		Details: map[string]string{"sessions": "1", "session": f.ID}})
	c.Status(http.StatusNoContent)
}

// RevokeUserSessions revokes the user's live sessions but those named in
// keep (the account page keeps its own browser's) and counts them.
func (api *API) RevokeUserSessions(ctx context.Context, userID string, keep ...string) (int, error) {
	fams, err := api.store.ListRefreshFamilies(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	n := 0
	for _, f := range fams {
		if f.Revoked || slices.Contains(keep, f.ID) {
			continue
		}
		if err := api.tokens.RevokeFamily(ctx, f.ID); err != nil {
			return n, fmt.Errorf("revoke session %s: %w", f.ID, err)
		}
		n++
	}
	return n, nil
}
