package admin

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

// The admin API's SCIM provisioners (docs/admin-api.md): each has a
// bearer credential that grants SCIM alone, bound to one connector,
// shown once when made or rotated and stored as its hash.

// Provisioner is a SCIM provisioner as the API shows it.
type Provisioner struct {
	ID        string `json:"id"`
	Connector string `json:"connector"`
	Subject   string `json:"subject"`
	Source    string `json:"source,omitempty"`
	// AdoptPrivileged: it may adopt users who have roles.
	AdoptPrivileged bool      `json:"adopt_privileged"`
	CreatedAt       time.Time `json:"created_at"`
	RotatedAt       time.Time `json:"rotated_at"`
	// Token is the credential, in answers that made it only.
	Token   string `json:"token,omitempty"`
	Version int64  `json:"-"`
}

// Provisioners keeps the SCIM provisioners; broker/scim owns their
// records and credentials.
type Provisioners interface {
	List(ctx context.Context) ([]Provisioner, error)
	Get(ctx context.Context, id string) (Provisioner, error)
	// Check says what is wrong with a new provisioner's id, connector
	// and subject (empty: the default), or "".
	Check(p Provisioner) string
	// Create stores p with a new credential (store.ErrAlreadyExists when
	// the id is taken) and returns it as stored, Token set.
	Create(ctx context.Context, p Provisioner) (Provisioner, error)
	// Rotate gives p a new credential at now, the old one stops working,
	// and returns it, Token set; store.ErrConflict if p changed since read.
	Rotate(ctx context.Context, p Provisioner, now time.Time) (Provisioner, error)
	// Delete removes p and its hold on what it provisioned.
	Delete(ctx context.Context, p Provisioner) error
}

func (api *API) scimAdminRoutes(g *gin.RouterGroup) {
	g.GET("/scim-provisioners", api.adminListProvisioners)
	g.POST("/scim-provisioners", api.adminCreateProvisioner)
	g.GET("/scim-provisioners/:id", api.adminGetProvisioner)
	g.DELETE("/scim-provisioners/:id", api.adminDeleteProvisioner)
	g.POST("/scim-provisioners/:id/token", api.adminRotateProvisioner)
}

func (api *API) adminListProvisioners(c *gin.Context) {
	ps, err := api.provisioners.List(c.Request.Context())
	if err != nil {
		api.adminFail(c, "list provisioners", err)
		return
	}
	slices.SortFunc(ps, func(x, y Provisioner) int { return strings.Compare(x.ID, y.ID) })
	if ps == nil {
		ps = []Provisioner{}
	}
	c.JSON(http.StatusOK, gin.H{"provisioners": ps})
}

func (api *API) adminGetProvisioner(c *gin.Context) {
	p, err := api.provisioners.Get(c.Request.Context(), c.Param("id"))
	if !api.adminCheck(c, "provisioner", err) {
		return
	}
	c.JSON(http.StatusOK, p)
}

func (api *API) adminCreateProvisioner(c *gin.Context) {
	var in struct {
		ID        string `json:"id"`
		Connector string `json:"connector"`
		Subject   string `json:"subject"`
		// AdoptPrivileged lets it adopt users who have roles (admins).
		AdoptPrivileged bool `json:"adopt_privileged"`
	}
	if !adminBind(c, &in) {
		return
	}
	now := api.opts.Now().UTC()
	p := Provisioner{ID: in.ID, Connector: in.Connector, Subject: in.Subject, CreatedAt: now, RotatedAt: now,
		AdoptPrivileged: in.AdoptPrivileged}
	if msg := api.provisioners.Check(p); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	if msg := api.SCIMConnectorProblem(p.Connector); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", "connector: "+msg)
		return
	}
	p, err := api.provisioners.Create(c.Request.Context(), p)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		adminError(c, http.StatusConflict, "conflict", "provisioner "+in.ID+" exists")
		return
	case err != nil:
		api.adminFail(c, "create provisioner", err)
		return
	}
	api.adminAudit(c, "scim_provisioner_create", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	c.JSON(http.StatusCreated, p)
}

// apiProvisioner reads the provisioner the path names for a change the
// API may make: not to one declared in the configuration file, for which
// the 409 says what to do there instead. On failure it has answered.
func (api *API) apiProvisioner(c *gin.Context, there string) (Provisioner, bool) {
	p, err := api.provisioners.Get(c.Request.Context(), c.Param("id"))
	if !api.adminCheck(c, "provisioner", err) {
		return p, false
	}
	if p.Source == "config" {
		adminError(c, http.StatusConflict, "conflict", "provisioner "+p.ID+" is declared in the configuration file: "+there)
		return p, false
	}
	return p, true
}

// adminRotateProvisioner gives the provisioner a new credential; the old
// one stops working at once. One declared in the file is rotated there.
func (api *API) adminRotateProvisioner(c *gin.Context) {
	p, ok := api.apiProvisioner(c, "change its token there")
	if !ok {
		return
	}
	p, err := api.provisioners.Rotate(c.Request.Context(), p, api.opts.Now().UTC())
	if !api.adminCheck(c, "provisioner", err) {
		return
	}
	api.adminAudit(c, "scim_provisioner_rotate", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	c.JSON(http.StatusOK, p)
}

func (api *API) adminDeleteProvisioner(c *gin.Context) {
	p, ok := api.apiProvisioner(c, "remove it there")
	if !ok {
		return
	}
	if !api.adminCheck(c, "provisioner", api.provisioners.Delete(c.Request.Context(), p)) {
		return
	}
	api.adminAudit(c, "scim_provisioner_delete", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	c.Status(http.StatusNoContent)
}

// scimConnectorProblem says why connector id cannot be a provisioner's,
// or "". SCIM provisions users of upstream connectors: the local one's
// accounts (and its administrators) are Portico's own.
func (api *API) SCIMConnectorProblem(id string) string {
	cn := api.conns.Load().ByID[id]
	switch {
	case cn == nil:
		return "no connector " + id
	case cn.Type == "local":
		return "connector " + id + " is the local connector; SCIM provisions users of upstream connectors (LDAP, SAML, OIDC, GitHub...)"
	}
	return ""
}
