package admin

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"

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
	var spec ConnectorSpec
	if api.opts.BuildConnector == nil {
		adminError(c, http.StatusNotImplemented, "not_implemented", "this server cannot build connectors at runtime")
		return core.Connector{}, spec, false
	}
	if !adminBind(c, &spec) {
		return core.Connector{}, spec, false
	}
	if id != "" {
		if spec.ID != "" && spec.ID != id {
			adminError(c, http.StatusBadRequest, "invalid_request", "the body's id differs from the path's")
			return core.Connector{}, spec, false
		}
		spec.ID = id
	}
	switch msg := config.CheckConnectorID(spec.ID); {
	case msg != "":
		adminError(c, http.StatusBadRequest, "invalid_request", "id: "+msg)
		return core.Connector{}, spec, false
	case spec.Type == "":
		adminError(c, http.StatusBadRequest, "invalid_request", "type is required")
		return core.Connector{}, spec, false
	case config.CheckDisplayName(spec.Name) != "":
		adminError(c, http.StatusBadRequest, "invalid_request", "name: "+config.CheckDisplayName(spec.Name))
		return core.Connector{}, spec, false
	}
	cn, err := api.opts.BuildConnector(c.Request.Context(), spec)
	if err != nil {
		// The caller is an administrator: it gets the message the
		// operator would read in the log for the same config at start.
		adminError(c, http.StatusBadRequest, "invalid_connector", err.Error())
		return core.Connector{}, spec, false
	}
	return cn, spec, true
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

// adminTestConnector builds the connector the body describes, which checks
// its configuration and, for a connector that connects at start (LDAP:
// the service account's bind, the base DNs), its reach; then closes it.
// Nothing is recorded or added: it is the console's "Test connection".
func (api *API) adminTestConnector(c *gin.Context) {
	cn, _, ok := api.buildConnector(c, "")
	if !ok {
		return
	}
	if cl, ok := cn.Impl.(io.Closer); ok {
		if err := cl.Close(); err != nil {
			api.log.WarnContext(c.Request.Context(), "admin: close a tested connector", "connector", cn.ID, "err", err)
		}
	}
	c.JSON(http.StatusOK, connectorView(cn))
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
