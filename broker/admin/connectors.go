package admin

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// ConnectorSpec is a connector's configuration as the admin API takes it:
// the file's connectors[] entry without claim mapping, groups, linking or
// isolation, which only the file sets.
type ConnectorSpec struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Name   string          `json:"name,omitempty"`
	Config json.RawMessage `json:"config,omitempty"`
	// DryRun builds the connector to test it: it keeps no files and is
	// closed at once (POST /connectors/test).
	DryRun bool `json:"-"`
}

// ConnectorBuilder builds a connector from spec (broker/server's factory
// table). It must return a working connector or an error, never half of one.
type ConnectorBuilder func(ctx context.Context, spec ConnectorSpec) (core.Connector, error)

func connectorView(cn core.Connector) gin.H {
	return gin.H{"id": cn.ID, "type": cn.Type, "name": cn.Name}
}

// adminListConnectors lists the connectors users can log in with now.
func (api *API) adminListConnectors(c *gin.Context) {
	out := []gin.H{}
	for _, cn := range api.conns.Load().List {
		v := connectorView(cn)
		if m := api.managedBy("connector", cn.ID); m != "" {
			v["managed_by"] = m
		}
		out = append(out, v)
	}
	c.JSON(http.StatusOK, gin.H{"connectors": out})
}

// buildConnector checks and builds the connector the body describes; id,
// when set, is the path's. Nothing is applied when it fails.
func (api *API) buildConnector(c *gin.Context, id string) (core.Connector, ConnectorSpec, bool) {
	spec, ok := api.bindSpec(c, id)
	if !ok {
		return core.Connector{}, spec, false
	}
	cn, ok := api.build(c, spec)
	return cn, spec, ok
}

// bindSpec reads and checks the body's connector; id, when set, is the
// path's.
func (api *API) bindSpec(c *gin.Context, id string) (ConnectorSpec, bool) {
	var spec ConnectorSpec
	if api.opts.BuildConnector == nil {
		adminError(c, http.StatusNotImplemented, "not_implemented", "this server cannot build connectors at runtime")
		return spec, false
	}
	if !adminBind(c, &spec) {
		return spec, false
	}
	if id != "" {
		if spec.ID != "" && spec.ID != id {
			adminError(c, http.StatusBadRequest, "invalid_request", "the body's id differs from the path's")
			return spec, false
		}
		spec.ID = id
	}
	switch msg := config.CheckConnectorID(spec.ID); {
	case msg != "":
		adminError(c, http.StatusBadRequest, "invalid_request", "id: "+msg)
		return spec, false
	case spec.Type == "":
		adminError(c, http.StatusBadRequest, "invalid_request", "type is required")
		return spec, false
	case config.CheckDisplayName(spec.Name) != "":
		adminError(c, http.StatusBadRequest, "invalid_request", "name: "+config.CheckDisplayName(spec.Name))
		return spec, false
	}
	return spec, true
}

// build builds spec's connector, answering when it cannot.
func (api *API) build(c *gin.Context, spec ConnectorSpec) (core.Connector, bool) {
	cn, err := api.opts.BuildConnector(c.Request.Context(), spec)
	if err != nil {
		// The caller is an administrator: it gets the message the
		// operator would read in the log for the same config at start.
		adminError(c, http.StatusBadRequest, "invalid_connector", err.Error())
		return core.Connector{}, false
	}
	return cn, true
}

// adminCreateConnector builds a connector, records it in the store (so it
// survives a restart and reaches other replicas) and adds it to the login
// page.
func (api *API) adminCreateConnector(c *gin.Context) {
	cn, spec, ok := api.buildConnector(c, "")
	if !ok {
		return
	}
	if api.conns.Load().ByID[cn.ID] != nil {
		adminError(c, http.StatusConflict, "conflict", "a connector with this id exists")
		return
	}
	if !api.saveConnector(c, cn, spec, false) {
		return
	}
	api.adminAudit(c, "connector_create", store.AuditEvent{ConnectorID: cn.ID, Details: map[string]string{"type": cn.Type}})
	c.JSON(http.StatusCreated, connectorView(cn))
}

// adminConnectorTypes lists the connector types the API can build, each
// with its configuration's JSON Schema: what a form for a new connector
// shows.
func (api *API) adminConnectorTypes(c *gin.Context) {
	out := []gin.H{}
	for _, typ := range slices.Sorted(maps.Keys(api.opts.ConnectorSchemas)) {
		out = append(out, gin.H{"type": typ, "schema": api.opts.ConnectorSchemas[typ]})
	}
	c.JSON(http.StatusOK, gin.H{"types": out})
}

// Pinger is a connector that can check its upstream on demand: the LDAP
// connector binds its service account and reads its base DNs.
type Pinger interface {
	Ping(ctx context.Context) error
}

// adminTestConnector builds the connector the body describes, which checks
// its configuration, then asks its upstream if the connector can
// (Pinger), and closes it. Nothing is recorded, added or kept: it is the
// console's "Test connection". Only built-in types: a plugin or a module
// is a program, started and checked by the file's configuration.
func (api *API) adminTestConnector(c *gin.Context) {
	spec, ok := api.bindSpec(c, "")
	if !ok {
		return
	}
	if _, builtIn := api.opts.ConnectorSchemas[spec.Type]; !builtIn {
		adminError(c, http.StatusBadRequest, "invalid_request", "type: only built-in connector types can be tested here ("+
			strings.Join(slices.Sorted(maps.Keys(api.opts.ConnectorSchemas)), ", ")+")")
		return
	}
	spec.DryRun = true
	cn, ok := api.build(c, spec)
	if !ok {
		return
	}
	defer func() {
		if cl, ok := cn.Impl.(io.Closer); ok {
			if err := cl.Close(); err != nil {
				api.log.WarnContext(c.Request.Context(), "admin: close a tested connector", "connector", cn.ID, "err", err)
			}
		}
	}()
	out := connectorView(cn)
	out["checked"] = false // built, upstream not asked
	if p, ok := cn.Impl.(Pinger); ok {
		ctx, cancel := core.WithConnectorDeadline(c.Request.Context(), &cn)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			adminError(c, http.StatusBadRequest, "invalid_connector", err.Error())
			return
		}
		out["checked"] = true
	}
	c.JSON(http.StatusOK, out)
}

// adminPutConnector replaces a connector by a newly built one; logins
// under way switch to it at their next request.
func (api *API) adminPutConnector(c *gin.Context) {
	id := c.Param("id")
	if api.conns.Load().ByID[id] == nil {
		adminError(c, http.StatusNotFound, "not_found", "connector not found")
		return
	}
	cn, spec, ok := api.buildConnector(c, id)
	if !ok {
		return
	}
	if !api.saveConnector(c, cn, spec, false) {
		return
	}
	api.adminAudit(c, "connector_update", store.AuditEvent{ConnectorID: id, Details: map[string]string{"type": cn.Type}})
	c.JSON(http.StatusOK, connectorView(cn))
}

// adminDeleteConnector removes a connector from the login page and from
// logins and callbacks at once. Its instance stays open until the server
// stops: a request in flight may still use it.
func (api *API) adminDeleteConnector(c *gin.Context) {
	id := c.Param("id")
	cur := api.conns.Load().ByID[id]
	if cur == nil {
		adminError(c, http.StatusNotFound, "not_found", "connector not found")
		return
	}
	if !api.saveConnector(c, core.Connector{ID: id, Type: cur.Type}, ConnectorSpec{ID: id, Type: cur.Type}, true) {
		return
	}
	api.adminAudit(c, "connector_delete", store.AuditEvent{ConnectorID: id})
	c.Status(http.StatusNoContent)
}
