package admin

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/scim"
	"github.com/portico-idp/portico/broker/store"
)

// The admin API's SCIM provisioners (docs/admin-api.md): each has a
// bearer credential that grants SCIM alone, bound to one connector,
// shown once when made or rotated and stored as its hash.

type adminProvisioner struct {
	ID        string `json:"id"`
	Connector string `json:"connector"`
	Subject   string `json:"subject"`
	Source    string `json:"source,omitempty"`
	// AdoptPrivileged: it may adopt users who have roles.
	AdoptPrivileged bool      `json:"adopt_privileged"`
	CreatedAt       time.Time `json:"created_at"`
	RotatedAt       time.Time `json:"rotated_at"`
	// Token is the credential, in answers that made it only.
	Token string `json:"token,omitempty"`
}

func toAdminProvisioner(p scim.Provisioner) adminProvisioner {
	return adminProvisioner{ID: p.ID, Connector: p.Connector, Subject: p.Subject, Source: p.Source,
		AdoptPrivileged: p.AdoptPrivileged, CreatedAt: p.CreatedAt, RotatedAt: p.RotatedAt}
}

func (b *API) scimAdminRoutes(g *gin.RouterGroup) {
	g.GET("/scim-provisioners", b.adminListProvisioners)
	g.POST("/scim-provisioners", b.adminCreateProvisioner)
	g.GET("/scim-provisioners/:id", b.adminGetProvisioner)
	g.DELETE("/scim-provisioners/:id", b.adminDeleteProvisioner)
	g.POST("/scim-provisioners/:id/token", b.adminRotateProvisioner)
}

func (b *API) adminListProvisioners(c *gin.Context) {
	ps, err := scim.ListProvisioners(c.Request.Context(), b.store)
	if err != nil {
		b.adminFail(c, "list provisioners", err)
		return
	}
	slices.SortFunc(ps, func(x, y scim.Provisioner) int { return strings.Compare(x.ID, y.ID) })
	out := make([]adminProvisioner, 0, len(ps))
	for _, p := range ps {
		out = append(out, toAdminProvisioner(p))
	}
	c.JSON(http.StatusOK, gin.H{"provisioners": out})
}

func (b *API) adminGetProvisioner(c *gin.Context) {
	p, err := scim.GetProvisioner(c.Request.Context(), b.store, c.Param("id"))
	if !b.adminCheck(c, "provisioner", err) {
		return
	}
	c.JSON(http.StatusOK, toAdminProvisioner(p))
}

func (b *API) adminCreateProvisioner(c *gin.Context) {
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
	if in.Subject == "" {
		in.Subject = scim.SubjectExternalID // the documented default, as in the file
	}
	now := b.opts.Now().UTC()
	p := scim.Provisioner{ID: in.ID, Connector: in.Connector, Subject: in.Subject, CreatedAt: now, RotatedAt: now,
		Generation: scim.NewGeneration(), AdoptPrivileged: in.AdoptPrivileged}
	if msg := scim.CheckProvisioner(p); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", msg)
		return
	}
	if msg := b.SCIMConnectorProblem(p.Connector); msg != "" {
		adminError(c, http.StatusBadRequest, "invalid_request", "connector: "+msg)
		return
	}
	tok := scim.Token(p.ID, core.NewClientSecret())
	p.TokenHash = core.HashClientSecret(tok)
	switch err := scim.PutProvisioner(c.Request.Context(), b.store, p); {
	case errors.Is(err, store.ErrAlreadyExists):
		adminError(c, http.StatusConflict, "conflict", "provisioner "+p.ID+" exists")
		return
	case err != nil:
		b.adminFail(c, "create provisioner", err)
		return
	}
	b.adminAudit(c, "scim_provisioner_create", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	out := toAdminProvisioner(p)
	out.Token = tok
	c.JSON(http.StatusCreated, out)
}

// apiProvisioner reads the provisioner the path names for a change the
// API may make: not to one declared in the configuration file, for which
// the 409 says what to do there instead. On failure it has answered.
func (b *API) apiProvisioner(c *gin.Context, there string) (scim.Provisioner, bool) {
	p, err := scim.GetProvisioner(c.Request.Context(), b.store, c.Param("id"))
	if !b.adminCheck(c, "provisioner", err) {
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
func (b *API) adminRotateProvisioner(c *gin.Context) {
	ctx := c.Request.Context()
	p, ok := b.apiProvisioner(c, "change its token there")
	if !ok {
		return
	}
	tok := scim.Token(p.ID, core.NewClientSecret())
	p.TokenHash, p.RotatedAt = core.HashClientSecret(tok), b.opts.Now().UTC()
	if !b.adminCheck(c, "provisioner", scim.PutProvisioner(ctx, b.store, p)) {
		return
	}
	b.adminAudit(c, "scim_provisioner_rotate", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	out := toAdminProvisioner(p)
	out.Token = tok
	c.JSON(http.StatusOK, out)
}

func (b *API) adminDeleteProvisioner(c *gin.Context) {
	ctx := c.Request.Context()
	p, ok := b.apiProvisioner(c, "remove it there")
	if !ok {
		return
	}
	if !b.adminCheck(c, "provisioner", scim.DeleteProvisioner(ctx, b.store, p)) {
		return
	}
	b.adminAudit(c, "scim_provisioner_delete", store.AuditEvent{ConnectorID: p.Connector, Details: map[string]string{"provisioner": p.ID}})
	c.Status(http.StatusNoContent)
}

// scimConnectorProblem says why connector id cannot be a provisioner's,
// or "". SCIM provisions users of upstream connectors: the local one's
// accounts (and its administrators) are Portico's own.
func (b *API) SCIMConnectorProblem(id string) string {
	cn := b.conns.Load().ByID[id]
	switch {
	case cn == nil:
		return "no connector " + id
	case cn.Type == "local":
		return "connector " + id + " is the local connector; SCIM provisions users of upstream connectors (LDAP, SAML, OIDC, GitHub...)"
	}
	return ""
}
