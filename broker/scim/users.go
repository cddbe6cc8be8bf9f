package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
)

// userRecord is what SCIM keeps of a user it provisioned (kind
// scim.user, key "<provisioner>/<user id>"); its Version is the ETag.
type userRecord struct {
	ID       string         `json:"id"`
	Subject  string         `json:"subject"` // of the identity at the bound connector
	Resource map[string]any `json:"resource"`
	Created  time.Time      `json:"created"`
	Modified time.Time      `json:"modified"`
	version  int64
}

func (h *Handler) getUserRecord(ctx context.Context, p Provisioner, id string) (userRecord, error) {
	if !validID(id) {
		return userRecord{}, store.ErrNotFound
	}
	r, err := h.o.Store.GetRecord(ctx, kindUser, p.scope()+"/"+id)
	if err != nil {
		return userRecord{}, err
	}
	var u userRecord
	if err := decodeStored(r.Value, &u); err != nil {
		return userRecord{}, fmt.Errorf("scim: user record %s: %w", id, err)
	}
	u.version = r.Version
	return u, nil
}

func (h *Handler) putUserRecord(ctx context.Context, p Provisioner, u userRecord) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	return h.o.Store.PutRecord(ctx, store.Record{Kind: kindUser, Key: p.scope() + "/" + u.ID, Value: v, Version: u.version})
}

// userRep is the user as served, with the groups it is a member of and
// active as the Portico user is now (an administrator may have disabled
// it since).
func (h *Handler) userRep(u userRecord, cur store.User, groups []any) map[string]any {
	rep := h.representation(userType, u.ID, u.Resource, u.Created, u.Modified, u.version)
	rep["active"] = !cur.Disabled
	if len(groups) > 0 {
		rep["groups"] = groups
	}
	return rep
}

// checkUser validates a user resource for provisioner p and returns
// the identity subject it names.
func checkUser(p Provisioner, res map[string]any) (string, *Error) {
	name := getString(res, "userName")
	if name == "" {
		return "", bad("invalidValue", "userName is required")
	}
	if strings.TrimSpace(name) != name || strings.ContainsFunc(name, config.IsControl) {
		return "", bad("invalidValue", "userName: no leading or trailing spaces, no control characters (bidirectional ones included)")
	}
	primaries := 0
	for _, el := range elements(res, find(userSchema.Attrs, "emails")) {
		v := getString(el, "value")
		if local, domain, ok := strings.Cut(v, "@"); !ok || local == "" || domain == "" || strings.Contains(domain, "@") ||
			len(v) > 320 || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return "", bad("invalidValue", "emails: %q is not an email address (local@domain, at most 320 bytes)", truncate(v))
		}
		if p, _ := el["primary"].(bool); p {
			primaries++
		}
	}
	if primaries > 1 {
		return "", bad("invalidValue", "emails: at most one is primary (RFC 7643 §2.4)")
	}
	subject := getString(res, p.Subject)
	if subject == "" {
		return "", bad("invalidValue", "%s is required: it is the subject of connector %s", p.Subject, p.Connector)
	}
	return subject, nil
}

// active is the user's active attribute; absent is active.
func active(res map[string]any) bool {
	b, ok := res["active"].(bool)
	return !ok || b
}

// setProfile sets the Portico user's profile from the SCIM resource; the
// next login through the connector sets it from the connector instead.
// A PUT or PATCH (replace) sets every field, so an absent one is
// cleared; an adoption (a POST of an existing user) sets only what it
// carries. Either way active changes Disabled only when it is sent, and
// an adoption never re-enables. An email SCIM changes is not verified.
func setProfile(u *store.User, res map[string]any, replace bool) {
	set := func(f *string, v string) {
		if replace || v != "" {
			*f = v
		}
	}
	set(&u.Username, getString(res, "userName"))
	if e := primaryEmail(res); replace || e != "" {
		if !strings.EqualFold(e, u.Email) {
			u.EmailVerified = false
		}
		u.Email = e
	}
	name := getString(res, "displayName")
	if n, ok := res["name"].(map[string]any); ok && name == "" {
		name = getString(n, "formatted")
		if name == "" {
			name = strings.TrimSpace(getString(n, "givenName") + " " + getString(n, "familyName"))
		}
	}
	set(&u.Name, name)
	if b, ok := res["active"].(bool); ok && (replace || !b) {
		u.Disabled = !b
	}
}

// patchedProfile is what setProfile is given for a PATCH that made res of
// old (RFC 7644 §3.5.2: a PATCH changes its targets only): res's profile
// attributes where the PATCH changed them, u's profile where it did not,
// so that what a login set (an email the adoption did not carry, say) is
// not cleared by a patch of something else.
func patchedProfile(u store.User, old, res map[string]any) map[string]any {
	changed := func(names ...string) bool {
		for _, n := range names {
			if !reflect.DeepEqual(old[n], res[n]) {
				return true
			}
		}
		return false
	}
	eff := maps.Clone(res)
	if !changed("userName") {
		eff["userName"] = u.Username
	}
	if !changed("emails") {
		delete(eff, "emails")
		if u.Email != "" {
			eff["emails"] = []any{map[string]any{"value": u.Email, "primary": true}}
		}
	}
	if !changed("displayName", "name") {
		delete(eff, "name")
		eff["displayName"] = u.Name
	}
	if !changed("active") {
		eff["active"] = !u.Disabled
	}
	return eff
}

func primaryEmail(res map[string]any) string {
	first := ""
	for _, el := range elements(res, find(userSchema.Attrs, "emails")) {
		v := getString(el, "value")
		if p, _ := el["primary"].(bool); p && v != "" {
			return v
		}
		if first == "" {
			first = v
		}
	}
	return first
}

func (h *Handler) listUsers(c *gin.Context) {
	lp, e := parseList(c, userType)
	if e != nil {
		writeErr(c, e)
		return
	}
	ctx, p := c.Request.Context(), provisionerOf(c)
	recs, err := h.o.Store.ListRecords(ctx, kindUser, p.scope()+"/")
	if err != nil {
		h.fail(c, "list users", err)
		return
	}
	groups, err := h.groupsByMember(ctx, p)
	if err != nil {
		h.fail(c, "list groups", err)
		return
	}
	users, err := h.porticoUsers(ctx)
	if err != nil {
		h.fail(c, "list users", err)
		return
	}
	items := make([]item, 0, len(recs))
	for _, r := range recs {
		var u userRecord
		if err := decodeStored(r.Value, &u); err != nil {
			h.fail(c, "decode user", err)
			return
		}
		u.version = r.Version
		cur, ok := users[u.ID]
		if !ok {
			continue // deleted elsewhere (the admin API): gone for SCIM too
		}
		items = append(items, item{rep: h.userRep(u, cur, groups[u.ID]), created: u.Created, id: u.ID})
	}
	writeList(c, userType, lp, items)
}

func (h *Handler) getUser(c *gin.Context) {
	ctx, p := c.Request.Context(), provisionerOf(c)
	u, cur, ok := h.loadUser(c, p)
	if !ok {
		return
	}
	groups, err := h.groupsByMember(ctx, p)
	if err != nil {
		h.fail(c, "list groups", err)
		return
	}
	writeResource(c, userType, http.StatusOK, h.userRep(u, cur, groups[u.ID]), u.version)
}

// loadUser reads the user the path names: its record and the Portico
// user, which must both exist (404 else: a user deleted elsewhere is gone
// for SCIM too). It answers and reports false on failure.
func (h *Handler) loadUser(c *gin.Context, p Provisioner) (userRecord, store.User, bool) {
	ctx := c.Request.Context()
	u, err := h.getUserRecord(ctx, p, c.Param("id"))
	if !h.check(c, "user", err) {
		return userRecord{}, store.User{}, false
	}
	cur, err := h.o.Store.GetUser(ctx, u.ID)
	if !h.check(c, "user", err) {
		return userRecord{}, store.User{}, false
	}
	return u, cur, true
}

// porticoUsers maps the ids of the Portico users to them.
func (h *Handler) porticoUsers(ctx context.Context) (map[string]store.User, error) {
	all, err := h.o.Store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]store.User, len(all))
	for _, u := range all {
		m[u.ID] = u
	}
	return m, nil
}

// withActive returns res with active as cur is now, unless res says:
// a PUT without active keeps the user's state, and a PATCH starts from
// the state an administrator may have changed.
func withActive(res map[string]any, cur store.User) map[string]any {
	if _, ok := res["active"]; !ok {
		res["active"] = !cur.Disabled
	}
	return res
}

// check answers 404 for ErrNotFound and 503 for other errors; it
// reports whether err was nil.
func (h *Handler) check(c *gin.Context, what string, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrNotFound):
		writeErr(c, errf(http.StatusNotFound, "", "%s %s not found", what, c.Param("id")))
	default:
		h.fail(c, what, err)
	}
	return false
}

func (h *Handler) createUser(c *gin.Context) {
	body, e := readBody(c)
	if e == nil {
		e = checkSchemas(body, userType)
	}
	var res map[string]any
	if e == nil {
		res, e = normalize(userType, body)
	}
	var subject string
	if e == nil {
		subject, e = checkUser(provisionerOf(c), res)
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	ctx, p, now := c.Request.Context(), provisionerOf(c), h.o.Now()
	// The person may have logged in through the connector already: the
	// provisioner adopts that user rather than making a second, unless
	// another provisioner owns it or it holds roles the provisioner may
	// not take over.
	id, adopt := h.o.NewUserID(), false
	switch ident, err := h.o.Store.GetIdentity(ctx, p.Connector, subject); {
	case err == nil:
		id, adopt = ident.UserID, true
		if _, err := h.getUserRecord(ctx, p, id); err == nil {
			writeErr(c, errf(http.StatusConflict, "uniqueness", "a user with this %s exists", p.Subject))
			return
		} else if !errors.Is(err, store.ErrNotFound) {
			h.fail(c, "read user", err)
			return
		}
		u, err := h.o.Store.GetUser(ctx, id)
		if err != nil {
			h.fail(c, "read user", err)
			return
		}
		if len(u.Roles) > 0 && !p.AdoptPrivileged {
			writeErr(c, errf(http.StatusForbidden, "", "the user with this %s has Portico roles; "+
				"this provisioner may adopt such users only with adopt_privileged", p.Subject))
			return
		}
	case !errors.Is(err, store.ErrNotFound):
		h.fail(c, "read identity", err)
		return
	}
	claimed, err := claimOwner(ctx, h.o.Store, p, id)
	switch {
	case errors.Is(err, errOwned):
		writeErr(c, errf(http.StatusConflict, "uniqueness", "the user with this %s is another provisioner's", p.Subject))
		return
	case err != nil:
		h.fail(c, "claim user", err)
		return
	}
	undoOwner := func() {
		if claimed {
			releaseOwner(ctx, h.o.Store, p, id)
		}
	}
	nk := nameKey(p.scope(), getString(res, "userName"))
	switch err := h.o.Store.PutRecord(ctx, store.Record{Kind: kindUserName, Key: nk, Value: []byte(id)}); {
	case errors.Is(err, store.ErrAlreadyExists):
		undoOwner()
		writeErr(c, errf(http.StatusConflict, "uniqueness", "userName is taken"))
		return
	case err != nil:
		undoOwner()
		h.fail(c, "claim userName", err)
		return
	}
	undo := func() { h.o.Store.DeleteRecord(ctx, kindUserName, nk); undoOwner() }
	if adopt {
		disabled := false
		err := h.updateProfile(ctx, id, func(u *store.User) {
			setProfile(u, res, false)
			u.ProvisionedGroups = nil // a former owner's groups
			disabled = u.Disabled
		})
		if err != nil {
			undo()
			h.check(c, "user", err)
			return
		}
		if disabled {
			res["active"] = false // the adoption did not re-enable it
		}
	} else {
		u := store.User{ID: id, CreatedAt: now}
		setProfile(&u, res, true)
		ident := store.Identity{ConnectorID: p.Connector, Subject: subject, UserID: id,
			Username: u.Username, Email: u.Email, Name: u.Name, LastSeen: now}
		switch err := h.o.Store.CreateUser(ctx, u, ident); {
		case errors.Is(err, store.ErrAlreadyExists):
			undo()
			writeErr(c, errf(http.StatusConflict, "uniqueness", "a user with this %s exists", p.Subject))
			return
		case err != nil:
			undo()
			h.fail(c, "create user", err)
			return
		}
	}
	rec := userRecord{ID: id, Subject: subject, Resource: res, Created: now, Modified: now}
	if err := h.putUserRecord(ctx, p, rec); err != nil {
		undo()
		if errors.Is(err, store.ErrAlreadyExists) {
			writeErr(c, errf(http.StatusConflict, "uniqueness", "a user with this %s exists", p.Subject))
			return
		}
		h.fail(c, "store user", err)
		return
	}
	rec.version = 1
	details := map[string]string{"user_name": getString(res, "userName")}
	if adopt {
		details["adopted"] = "true"
	}
	h.audit(c, store.AuditEvent{Type: AuditUserCreate, UserID: id, Details: details})
	if !active(res) && adopt {
		if err := h.o.Sessions.EndUserSessions(ctx, id); err != nil {
			h.fail(c, "end sessions", err)
			return
		}
	}
	cur, err := h.o.Store.GetUser(ctx, id)
	if !h.check(c, "user", err) {
		return
	}
	writeResource(c, userType, http.StatusCreated, h.userRep(rec, cur, nil), rec.version)
}

func (h *Handler) putUser(c *gin.Context) {
	p := provisionerOf(c)
	old, cur, ok := h.loadUser(c, p)
	if !ok {
		return
	}
	body, e := readBody(c)
	if e == nil {
		e = checkSchemas(body, userType)
	}
	var res map[string]any
	if e == nil {
		res, e = normalize(userType, body)
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	h.updateUser(c, p, old, withActive(res, cur), false)
}

func (h *Handler) patchUser(c *gin.Context) {
	p := provisionerOf(c)
	old, cur, ok := h.loadUser(c, p)
	if !ok {
		return
	}
	body, e := readBody(c)
	var ops []patchOp
	if e == nil {
		ops, e = parsePatch(body)
	}
	res := clone(old.Resource).(map[string]any)
	res["active"] = !cur.Disabled
	if e == nil {
		e = applyPatch(userType, res, ops)
	}
	if e == nil {
		res, e = normalize(userType, res) // bounds and types again, after the change
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	h.updateUser(c, p, old, res, true)
}

// updateUser stores res as the new state of old: a new userName claims
// its name, a new subject moves the identity, and deactivation ends the
// user's sessions at once. A patch sets only the profile fields whose
// attributes it changed (patchedProfile); a PUT sets them all.
func (h *Handler) updateUser(c *gin.Context, p Provisioner, old userRecord, res map[string]any, patch bool) {
	ctx, now := c.Request.Context(), h.o.Now()
	if !ifMatch(c, old.version) {
		writeErr(c, errf(http.StatusPreconditionFailed, "", "the resource changed: its version is %s", etag(old.version)))
		return
	}
	subject, e := checkUser(p, res)
	if e != nil {
		writeErr(c, e)
		return
	}
	oldName, newName := getString(old.Resource, "userName"), getString(res, "userName")
	var undo []func()
	rollback := func() {
		for _, f := range undo {
			f()
		}
	}
	if !strings.EqualFold(oldName, newName) {
		nk := nameKey(p.scope(), newName)
		switch err := h.o.Store.PutRecord(ctx, store.Record{Kind: kindUserName, Key: nk, Value: []byte(old.ID)}); {
		case errors.Is(err, store.ErrAlreadyExists):
			writeErr(c, errf(http.StatusConflict, "uniqueness", "userName is taken"))
			return
		case err != nil:
			h.fail(c, "claim userName", err)
			return
		}
		undo = append(undo, func() { h.o.Store.DeleteRecord(ctx, kindUserName, nk) })
	}
	if subject != old.Subject {
		ident := store.Identity{ConnectorID: p.Connector, Subject: subject, UserID: old.ID, Username: newName, LastSeen: now}
		switch err := h.o.Store.CreateIdentity(ctx, ident); {
		case errors.Is(err, store.ErrAlreadyExists):
			rollback()
			writeErr(c, errf(http.StatusConflict, "uniqueness", "a user with this %s exists", p.Subject))
			return
		case err != nil:
			rollback()
			h.check(c, "user", err)
			return
		}
		undo = append(undo, func() { h.o.Store.DeleteIdentity(ctx, p.Connector, subject) })
	}
	rec := old
	rec.Resource, rec.Subject, rec.Modified = res, subject, now
	if err := h.putUserRecord(ctx, p, rec); err != nil {
		rollback()
		if errors.Is(err, store.ErrConflict) {
			writeErr(c, errf(http.StatusConflict, "", "the user changed concurrently; read it and try again"))
			return
		}
		h.check(c, "user", err)
		return
	}
	rec.version++
	if !strings.EqualFold(oldName, newName) {
		h.o.Store.DeleteRecord(ctx, kindUserName, nameKey(p.scope(), oldName))
	}
	if subject != old.Subject {
		if err := h.o.Store.DeleteIdentity(ctx, p.Connector, old.Subject); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.o.Logger.ErrorContext(ctx, "scim: remove the old identity", "err", err)
		}
	}
	var cur store.User
	if err := h.updateProfile(ctx, old.ID, func(u *store.User) {
		if patch {
			setProfile(u, patchedProfile(*u, old.Resource, res), true)
		} else {
			setProfile(u, res, true)
		}
		cur = *u
	}); err != nil {
		h.check(c, "user", err)
		return
	}
	typ := AuditUserUpdate
	if !active(res) {
		// Deprovisioned: every session ends now, not at its expiry.
		if err := h.o.Sessions.EndUserSessions(ctx, old.ID); err != nil {
			h.fail(c, "end sessions", err)
			return
		}
		if active(old.Resource) {
			typ = AuditUserDeactivate
		}
	}
	h.audit(c, store.AuditEvent{Type: typ, UserID: old.ID, Details: map[string]string{"user_name": newName}})
	groups, err := h.groupsByMember(ctx, p)
	if err != nil {
		h.fail(c, "list groups", err)
		return
	}
	writeResource(c, userType, http.StatusOK, h.userRep(rec, cur, groups[rec.ID]), rec.version)
}

// updateProfile changes the Portico user with f, retrying lost races.
func (h *Handler) updateProfile(ctx context.Context, id string, f func(*store.User)) error {
	return updateUser(ctx, h.o.Store, id, f)
}

// deleteUser deprovisions for good: sessions end, the user leaves its
// groups, and the Portico user and its identities go.
func (h *Handler) deleteUser(c *gin.Context) {
	ctx, p := c.Request.Context(), provisionerOf(c)
	u, err := h.getUserRecord(ctx, p, c.Param("id"))
	if !h.check(c, "user", err) {
		return
	}
	if !ifMatch(c, u.version) {
		writeErr(c, errf(http.StatusPreconditionFailed, "", "the resource changed: its version is %s", etag(u.version)))
		return
	}
	if err := h.o.Sessions.EndUserSessions(ctx, u.ID); err != nil {
		h.fail(c, "end sessions", err)
		return
	}
	if err := h.leaveGroups(ctx, p, u.ID); err != nil {
		h.fail(c, "leave groups", err)
		return
	}
	gone := false
	if err := h.o.Store.DeleteUser(ctx, u.ID); errors.Is(err, store.ErrNotFound) {
		gone = true // deleted elsewhere: its records go, and SCIM says 404 as GET does
	} else if err != nil {
		h.fail(c, "delete user", err)
		return
	}
	h.o.Store.DeleteRecord(ctx, kindUserName, nameKey(p.scope(), getString(u.Resource, "userName")))
	if err := h.o.Store.DeleteRecord(ctx, kindUser, p.scope()+"/"+u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(c, "delete user record", err)
		return
	}
	if err := releaseOwner(ctx, h.o.Store, p, u.ID); err != nil {
		h.fail(c, "release user", err)
		return
	}
	if gone {
		writeErr(c, errf(http.StatusNotFound, "", "user %s not found", u.ID))
		return
	}
	h.audit(c, store.AuditEvent{Type: AuditUserDelete, UserID: u.ID, Details: map[string]string{"user_name": getString(u.Resource, "userName")}})
	c.Status(http.StatusNoContent)
}
