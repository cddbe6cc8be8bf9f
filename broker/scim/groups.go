package scim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/store"
)

// A provisioned group is a name: its displayName, added to its members'
// ProvisionedGroups, reaches their tokens in the groups claim. A rename
// moves the name, a removal or deletion takes it away. ProvisionedGroups
// is SCIM's alone: the admin API's LocalGroups are never touched, and as
// a user has one provisioner (owner.go), another provisioner's group of
// the same name never reaches that user.

type groupRecord struct {
	ID       string         `json:"id"`
	Resource map[string]any `json:"resource"`
	Created  time.Time      `json:"created"`
	Modified time.Time      `json:"modified"`
	version  int64
}

func (h *Handler) getGroupRecord(ctx context.Context, p Provisioner, id string) (groupRecord, error) {
	if !validID(id) {
		return groupRecord{}, store.ErrNotFound
	}
	r, err := h.o.Store.GetRecord(ctx, kindGroup, p.scope()+"/"+id)
	if err != nil {
		return groupRecord{}, err
	}
	return decodeGroup(r)
}

func decodeGroup(r store.Record) (groupRecord, error) {
	var g groupRecord
	if err := decodeStored(r.Value, &g); err != nil {
		return groupRecord{}, fmt.Errorf("scim: group record %s: %w", r.Key, err)
	}
	g.version = r.Version
	return g, nil
}

func (h *Handler) putGroupRecord(ctx context.Context, p Provisioner, g groupRecord) error {
	v, err := json.Marshal(g)
	if err != nil {
		return err
	}
	return h.o.Store.PutRecord(ctx, store.Record{Kind: kindGroup, Key: p.scope() + "/" + g.ID, Value: v, Version: g.version})
}

func (h *Handler) listGroupRecords(ctx context.Context, p Provisioner) ([]groupRecord, error) {
	recs, err := h.o.Store.ListRecords(ctx, kindGroup, p.scope()+"/")
	if err != nil {
		return nil, err
	}
	out := make([]groupRecord, 0, len(recs))
	for _, r := range recs {
		g, err := decodeGroup(r)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// members returns the user ids of a group resource.
func members(res map[string]any) []string {
	var ids []string
	for _, el := range elements(res, find(groupSchema.Attrs, "members")) {
		if v := getString(el, "value"); v != "" {
			ids = append(ids, v)
		}
	}
	return ids
}

// groupsByMember maps user ids to the groups attribute of their
// representation (RFC 7643 §4.1.2).
func (h *Handler) groupsByMember(ctx context.Context, p Provisioner) (map[string][]any, error) {
	gs, err := h.listGroupRecords(ctx, p)
	if err != nil {
		return nil, err
	}
	out := map[string][]any{}
	for _, g := range gs {
		for _, m := range members(g.Resource) {
			out[m] = append(out[m], map[string]any{"value": g.ID, "display": getString(g.Resource, "displayName"),
				"$ref": h.o.BaseURL + "/Groups/" + g.ID, "type": "direct"})
		}
	}
	return out, nil
}

// checkGroup validates a group: a displayName that is a valid group name
// in tokens, and members that are users this provisioner provisioned.
// Only members not in old are looked up.
func (h *Handler) checkGroup(ctx context.Context, p Provisioner, res map[string]any, old []string) *Error {
	name := getString(res, "displayName")
	if name == "" {
		return bad("invalidValue", "displayName is required")
	}
	if msg := config.CheckGroupName(name); msg != "" {
		return bad("invalidValue", "displayName: %s", msg)
	}
	for _, el := range elements(res, find(groupSchema.Attrs, "members")) {
		v := getString(el, "value")
		if v == "" {
			return bad("invalidValue", "a member has no value")
		}
		if t := getString(el, "type"); t != "" && !strings.EqualFold(t, "User") {
			return bad("invalidValue", "members are users; nested groups are not supported")
		}
		if slices.Contains(old, v) {
			continue
		}
		_, err := h.getUserRecord(ctx, p, v)
		if err == nil {
			_, err = h.o.Store.GetUser(ctx, v) // deleted elsewhere?
		}
		if errors.Is(err, store.ErrNotFound) {
			return bad("invalidValue", "member %s is not a user of this provisioner", v)
		} else if err != nil {
			return errf(http.StatusServiceUnavailable, "", "try again later")
		}
	}
	return nil
}

// groupRep is the group as served: members deleted elsewhere (the admin
// API) are left out.
func (h *Handler) groupRep(g groupRecord, users map[string]store.User) map[string]any {
	rep := h.representation(groupType, g.ID, g.Resource, g.Created, g.Modified, g.version)
	if ms, ok := rep["members"].([]any); ok {
		ms = slices.DeleteFunc(ms, func(el any) bool {
			m, _ := el.(map[string]any)
			_, ok := users[getString(m, "value")]
			return !ok
		})
		setOrDelete(rep, "members", ms)
	}
	return rep
}

// writeGroup answers one group.
func (h *Handler) writeGroup(c *gin.Context, status int, g groupRecord) {
	users, err := h.porticoUsers(c.Request.Context())
	if err != nil {
		h.fail(c, "list users", err)
		return
	}
	writeResource(c, groupType, status, h.groupRep(g, users), g.version)
}

func (h *Handler) listGroups(c *gin.Context) {
	lp, e := parseList(c, groupType)
	if e != nil {
		writeErr(c, e)
		return
	}
	gs, err := h.listGroupRecords(c.Request.Context(), provisionerOf(c))
	if err != nil {
		h.fail(c, "list groups", err)
		return
	}
	users, err := h.porticoUsers(c.Request.Context())
	if err != nil {
		h.fail(c, "list users", err)
		return
	}
	items := make([]item, 0, len(gs))
	for _, g := range gs {
		items = append(items, item{rep: h.groupRep(g, users), created: g.Created, id: g.ID})
	}
	writeList(c, groupType, lp, items)
}

func (h *Handler) getGroup(c *gin.Context) {
	g, err := h.getGroupRecord(c.Request.Context(), provisionerOf(c), c.Param("id"))
	if !h.check(c, "group", err) {
		return
	}
	h.writeGroup(c, http.StatusOK, g)
}

func (h *Handler) createGroup(c *gin.Context) {
	ctx, p, now := c.Request.Context(), provisionerOf(c), h.o.Now()
	body, e := readBody(c)
	if e == nil {
		e = checkSchemas(body, groupType)
	}
	var res map[string]any
	if e == nil {
		res, e = normalize(groupType, body)
	}
	if e == nil {
		e = h.checkGroup(ctx, p, res, nil)
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	g := groupRecord{ID: newID(), Resource: res, Created: now, Modified: now}
	name := getString(res, "displayName")
	nk := nameKey(p.scope(), name)
	switch err := h.o.Store.PutRecord(ctx, store.Record{Kind: kindGroupName, Key: nk, Value: []byte(g.ID)}); {
	case errors.Is(err, store.ErrAlreadyExists):
		writeErr(c, errf(http.StatusConflict, "uniqueness", "displayName is taken"))
		return
	case err != nil:
		h.fail(c, "claim displayName", err)
		return
	}
	if err := h.putGroupRecord(ctx, p, g); err != nil {
		h.o.Store.DeleteRecord(ctx, kindGroupName, nk)
		h.fail(c, "store group", err)
		return
	}
	g.version = 1
	if err := h.syncMembers(ctx, nil, "", members(res), name); err != nil {
		h.fail(c, "add members", err)
		return
	}
	h.audit(c, store.AuditEvent{Type: AuditGroupCreate, Details: map[string]string{"group": g.ID, "name": name}})
	h.writeGroup(c, http.StatusCreated, g)
}

func (h *Handler) putGroup(c *gin.Context) {
	ctx, p := c.Request.Context(), provisionerOf(c)
	old, err := h.getGroupRecord(ctx, p, c.Param("id"))
	if !h.check(c, "group", err) {
		return
	}
	body, e := readBody(c)
	if e == nil {
		e = checkSchemas(body, groupType)
	}
	var res map[string]any
	if e == nil {
		res, e = normalize(groupType, body)
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	if h.updateGroup(c, p, old, res) {
		g, err := h.getGroupRecord(ctx, p, old.ID)
		if h.check(c, "group", err) {
			h.writeGroup(c, http.StatusOK, g)
		}
	}
}

// patchGroup answers 204 (RFC 7644 §3.5.2 allows it): a group of
// thousands would otherwise come back whole for each member added.
func (h *Handler) patchGroup(c *gin.Context) {
	ctx, p := c.Request.Context(), provisionerOf(c)
	old, err := h.getGroupRecord(ctx, p, c.Param("id"))
	if !h.check(c, "group", err) {
		return
	}
	body, e := readBody(c)
	var ops []patchOp
	if e == nil {
		ops, e = parsePatch(body)
	}
	res := clone(old.Resource).(map[string]any)
	if e == nil {
		e = applyPatch(groupType, res, ops)
	}
	if e == nil {
		res, e = normalize(groupType, res)
	}
	if e != nil {
		writeErr(c, e)
		return
	}
	if h.updateGroup(c, p, old, res) {
		c.Header("ETag", etag(old.version+1))
		c.Status(http.StatusNoContent)
	}
}

// updateGroup stores res as the new state of old and moves the group's
// name among the members; it reports whether it did (else it answered).
func (h *Handler) updateGroup(c *gin.Context, p Provisioner, old groupRecord, res map[string]any) bool {
	ctx := c.Request.Context()
	if !ifMatch(c, old.version) {
		writeErr(c, errf(http.StatusPreconditionFailed, "", "the resource changed: its version is %s", etag(old.version)))
		return false
	}
	oldMembers := members(old.Resource)
	if e := h.checkGroup(ctx, p, res, oldMembers); e != nil {
		writeErr(c, e)
		return false
	}
	oldName, newName := getString(old.Resource, "displayName"), getString(res, "displayName")
	renamed := !strings.EqualFold(oldName, newName)
	if renamed {
		nk := nameKey(p.scope(), newName)
		switch err := h.o.Store.PutRecord(ctx, store.Record{Kind: kindGroupName, Key: nk, Value: []byte(old.ID)}); {
		case errors.Is(err, store.ErrAlreadyExists):
			writeErr(c, errf(http.StatusConflict, "uniqueness", "displayName is taken"))
			return false
		case err != nil:
			h.fail(c, "claim displayName", err)
			return false
		}
	}
	g := old
	g.Resource, g.Modified = res, h.o.Now()
	if err := h.putGroupRecord(ctx, p, g); err != nil {
		if renamed {
			h.o.Store.DeleteRecord(ctx, kindGroupName, nameKey(p.scope(), newName))
		}
		if errors.Is(err, store.ErrConflict) {
			writeErr(c, errf(http.StatusConflict, "", "the group changed concurrently; read it and try again"))
			return false
		}
		h.check(c, "group", err)
		return false
	}
	if renamed {
		h.o.Store.DeleteRecord(ctx, kindGroupName, nameKey(p.scope(), oldName))
	}
	if err := h.syncMembers(ctx, oldMembers, oldName, members(res), newName); err != nil {
		h.fail(c, "update members", err)
		return false
	}
	h.audit(c, store.AuditEvent{Type: AuditGroupUpdate, Details: map[string]string{"group": old.ID, "name": newName}})
	return true
}

// syncMembers moves the group name in members' ProvisionedGroups from
// (oldMembers, oldName) to (newMembers, newName): only users whose
// groups change are written.
func (h *Handler) syncMembers(ctx context.Context, oldMembers []string, oldName string, newMembers []string, newName string) error {
	for _, id := range oldMembers {
		if oldName != newName || !slices.Contains(newMembers, id) {
			if err := h.setGroup(ctx, id, oldName, false); err != nil {
				return err
			}
		}
	}
	for _, id := range newMembers {
		if oldName != newName || !slices.Contains(oldMembers, id) {
			if err := h.setGroup(ctx, id, newName, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// setGroup adds name to, or removes it from, a user's ProvisionedGroups; a
// user gone meanwhile is skipped.
func (h *Handler) setGroup(ctx context.Context, userID, name string, in bool) error {
	err := h.updateProfile(ctx, userID, func(u *store.User) {
		has := slices.Contains(u.ProvisionedGroups, name)
		switch {
		case in && !has && len(u.ProvisionedGroups) < config.MaxGroups:
			u.ProvisionedGroups = append(u.ProvisionedGroups, name)
		case !in && has:
			u.ProvisionedGroups = slices.DeleteFunc(u.ProvisionedGroups, func(g string) bool { return g == name })
		}
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (h *Handler) deleteGroup(c *gin.Context) {
	ctx, p := c.Request.Context(), provisionerOf(c)
	g, err := h.getGroupRecord(ctx, p, c.Param("id"))
	if !h.check(c, "group", err) {
		return
	}
	if !ifMatch(c, g.version) {
		writeErr(c, errf(http.StatusPreconditionFailed, "", "the resource changed: its version is %s", etag(g.version)))
		return
	}
	name := getString(g.Resource, "displayName")
	if err := h.syncMembers(ctx, members(g.Resource), name, nil, name); err != nil {
		h.fail(c, "remove members", err)
		return
	}
	if err := h.o.Store.DeleteRecord(ctx, kindGroup, p.scope()+"/"+g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(c, "delete group", err)
		return
	}
	h.o.Store.DeleteRecord(ctx, kindGroupName, nameKey(p.scope(), name))
	h.audit(c, store.AuditEvent{Type: AuditGroupDelete, Details: map[string]string{"group": g.ID, "name": name}})
	c.Status(http.StatusNoContent)
}

// leaveGroups removes a user being deleted from every group's members.
func (h *Handler) leaveGroups(ctx context.Context, p Provisioner, userID string) error {
	gs, err := h.listGroupRecords(ctx, p)
	if err != nil {
		return err
	}
	for _, g := range gs {
		for range 8 {
			if !slices.Contains(members(g.Resource), userID) {
				break
			}
			ms := slices.DeleteFunc(flat(g.Resource["members"]), func(el any) bool {
				m, _ := el.(map[string]any)
				return getString(m, "value") == userID
			})
			setOrDelete(g.Resource, "members", ms)
			g.Modified = h.o.Now()
			err := h.putGroupRecord(ctx, p, g)
			if err == nil || errors.Is(err, store.ErrNotFound) {
				break
			}
			if !errors.Is(err, store.ErrConflict) {
				return err
			}
			if g, err = h.getGroupRecord(ctx, p, g.ID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					break
				}
				return err
			}
		}
	}
	return nil
}
