package broker

import (
	"cmp"
	"context"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/protocol"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/identity"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/scim"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
)

// SCIM 2.0 provisioning (broker/scim, docs/scim.md) is mounted at
// /scim/v2. The package gets what it needs of the broker through small
// interfaces: the store, ending a user's sessions (as the admin API's
// disable does), the audit trail and the client-authentication throttle.

// scimPath is where SCIM lives below the issuer's path.
const scimPath = "/scim/v2"

// scimBody is what SCIM endpoints take: SCIM's JSON, bounded.
var scimBody = bodyClass{name: "SCIM JSON", limit: scim.MaxBody, types: []string{scim.MediaType, jsonType}}

func (b *Broker) scimRoutes(r *gin.Engine) {
	o := scim.Options{
		Store: b.store, Sessions: scimSessions{b}, HashToken: core.HashClientSecret, NewUserID: identity.NewSubject,
		Audit: b.audit.Record, BaseURL: b.url(scimPath), Now: b.opts.Now, Logger: b.log,
		ThrottleKeys: protocol.ClientThrottleKeys, ConnectorProblem: b.admin.SCIMConnectorProblem,
	}
	if b.opts.ClientThrottle != nil { // a nil *Limiter must not become a non-nil interface
		o.Throttle = b.opts.ClientThrottle
	}
	scim.New(o).Routes(r.Group(b.path(scimPath)))
}

// scimSessions ends a deprovisioned user's sessions: refresh families
// (their access tokens die with them) and browsers' single sign-on.
type scimSessions struct{ b *Broker }

func (s scimSessions) EndUserSessions(ctx context.Context, userID string) error {
	if _, err := s.b.admin.RevokeUserSessions(ctx, userID); err != nil {
		return err
	}
	_, err := s.b.journey.EndUserSessions(ctx, userID)
	return err
}

// scimBodyRule is the body rule of a SCIM route by method.
func scimBodyRule(method string) (bodyRule, bool) {
	switch method {
	case http.MethodGet, http.MethodDelete:
		return bodyRule{noBody, refuseSCIM}, true
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return bodyRule{scimBody, refuseSCIM}, true
	}
	return bodyRule{}, false
}

func refuseSCIM(c *gin.Context, status int, desc string) { scim.WriteError(c, status, "", desc) }

func (b *Broker) underSCIM(p string) bool {
	root := b.path(scimPath)
	return p == root || strings.HasPrefix(p, root+"/")
}

// scimNoRoute and scimNoMethod answer in SCIM's error format below
// /scim/v2, and pass other paths on.
func (b *Broker) scimNoRoute(c *gin.Context) {
	if b.underSCIM(c.Request.URL.Path) {
		scim.WriteError(c, http.StatusNotFound, "", "no such SCIM endpoint")
	}
}

func (b *Broker) scimNoMethod(c *gin.Context) {
	if b.underSCIM(c.Request.URL.Path) {
		scim.WriteError(c, http.StatusMethodNotAllowed, "", "this endpoint does not take "+c.Request.Method)
	}
}

var _ scim.Throttle = (*throttle.Limiter)(nil)
var _ scim.Store = store.Store(nil)

// strictAPIPaths answers a path below /scim/v2 or /admin/v1 that ends
// in a slash or holds an empty segment ("/Users/", "//Users") with the
// API's JSON 404 itself: gin would redirect it with an HTML body, and
// both APIs promise JSON errors. Other paths go to next unchanged.
func (b *Broker) strictAPIPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		odd := strings.HasSuffix(p, "/") || strings.Contains(p, "//")
		switch {
		case odd && b.underSCIM(p):
			w.Header().Set("Content-Type", scim.MediaType+"; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"schemas":["` + scim.URNError + `"],"status":"404","detail":"no such SCIM endpoint"}`))
		case odd && b.admin.Under(p):
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(admin.NotFoundJSON))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// APIPath reports whether p, cleaned, is below /scim/v2 or /admin/v1:
// the server's mux leaves such paths to the broker (strictAPIPaths).
func (b *Broker) APIPath(p string) bool {
	p = path.Clean("/" + p)
	return b.underSCIM(p) || b.admin.Under(p)
}

// provisioners are SCIM's provisioners as the admin API manages them
// (admin.Provisioners).
type provisioners struct{ st store.Store }

func toAdmin(p scim.Provisioner) admin.Provisioner {
	return admin.Provisioner{ID: p.ID, Connector: p.Connector, Subject: p.Subject, Source: p.Source,
		AdoptPrivileged: p.AdoptPrivileged, CreatedAt: p.CreatedAt, RotatedAt: p.RotatedAt, Version: p.Version}
}

// fromAdmin is a new provisioner: its subject defaults as in the file.
func fromAdmin(p admin.Provisioner) scim.Provisioner {
	return scim.Provisioner{ID: p.ID, Connector: p.Connector, Subject: cmp.Or(p.Subject, scim.SubjectExternalID),
		AdoptPrivileged: p.AdoptPrivileged, CreatedAt: p.CreatedAt, RotatedAt: p.RotatedAt}
}

func (s provisioners) List(ctx context.Context) ([]admin.Provisioner, error) {
	ps, err := scim.ListProvisioners(ctx, s.st)
	out := make([]admin.Provisioner, 0, len(ps))
	for _, p := range ps {
		out = append(out, toAdmin(p))
	}
	return out, err
}

func (s provisioners) Get(ctx context.Context, id string) (admin.Provisioner, error) {
	p, err := scim.GetProvisioner(ctx, s.st, id)
	return toAdmin(p), err
}

func (s provisioners) Check(p admin.Provisioner) string { return scim.CheckProvisioner(fromAdmin(p)) }

func (s provisioners) Create(ctx context.Context, p admin.Provisioner) (admin.Provisioner, error) {
	sp := fromAdmin(p)
	sp.Generation = scim.NewGeneration()
	tok := scim.Token(sp.ID, core.NewClientSecret())
	sp.TokenHash = core.HashClientSecret(tok)
	if err := scim.PutProvisioner(ctx, s.st, sp); err != nil {
		return p, err
	}
	out := toAdmin(sp)
	out.Token = tok
	return out, nil
}

// stored reads p's record, which must be the version p was read at.
func (s provisioners) stored(ctx context.Context, p admin.Provisioner) (scim.Provisioner, error) {
	sp, err := scim.GetProvisioner(ctx, s.st, p.ID)
	if err == nil && sp.Version != p.Version {
		err = store.ErrConflict
	}
	return sp, err
}

func (s provisioners) Rotate(ctx context.Context, p admin.Provisioner, now time.Time) (admin.Provisioner, error) {
	sp, err := s.stored(ctx, p)
	if err != nil {
		return p, err
	}
	tok := scim.Token(sp.ID, core.NewClientSecret())
	sp.TokenHash, sp.RotatedAt = core.HashClientSecret(tok), now
	if err := scim.PutProvisioner(ctx, s.st, sp); err != nil {
		return p, err
	}
	out := toAdmin(sp)
	out.Token = tok
	return out, nil
}

func (s provisioners) Delete(ctx context.Context, p admin.Provisioner) error {
	sp, err := s.stored(ctx, p)
	if err != nil {
		return err
	}
	return scim.DeleteProvisioner(ctx, s.st, sp)
}
