// Package scim serves SCIM 2.0 provisioning (RFC 7643, RFC 7644) under
// /scim/v2: Okta, Microsoft Entra ID and other provisioners create,
// update, deactivate and delete Portico users and groups before anyone
// logs in.
//
// A provisioned user is a canonical Portico user (store.User, its id the
// SCIM id and the `sub`) with an identity at the provisioner's bound
// connector whose subject is the SCIM externalId or userName, as the
// provisioner is configured: the person who later logs in through that
// connector is the same user. A provisioned group is a name in its
// members. ProvisionedGroups, so it reaches tokens as a group.
//
// The package needs little of the broker, through the small interfaces
// below; the broker wires them (broker/scim_wire.go). Everything SCIM
// keeps besides users and identities is in the store's generic records.
package scim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/unicode/norm"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
)

// Store is what SCIM reads and writes: users, their identities, records.
type Store interface {
	CreateUser(ctx context.Context, u store.User, ids ...store.Identity) error
	GetUser(ctx context.Context, id string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.User, error)
	UpdateUser(ctx context.Context, u store.User) error
	DeleteUser(ctx context.Context, id string) error
	GetIdentity(ctx context.Context, connectorID, subject string) (store.Identity, error)
	CreateIdentity(ctx context.Context, id store.Identity) error
	DeleteIdentity(ctx context.Context, connectorID, subject string) error
	RecordStore
}

// RecordStore is the store's generic records, all provisioners need.
type RecordStore interface {
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	PutRecord(ctx context.Context, r store.Record) error
	DeleteRecord(ctx context.Context, kind, key string) error
	ListRecords(ctx context.Context, kind, prefix string) ([]store.Record, error)
}

// Sessions ends every session of a user at once: refresh families
// revoked (their access tokens die with them) and browser sessions.
type Sessions interface {
	EndUserSessions(ctx context.Context, userID string) error
}

// Throttle slows down failed authentications (the broker's client
// throttle).
type Throttle interface {
	Peek(ctx context.Context, keys ...throttle.Key) (throttle.Decision, error)
	Fail(ctx context.Context, keys ...throttle.Key) error
}

// Options configure a Handler.
type Options struct {
	Store    Store
	Sessions Sessions
	// Audit records an event (the broker's audit trail).
	Audit func(ctx context.Context, e store.AuditEvent)
	// Throttle and ThrottleKeys, if set, count failed authentications
	// per provisioner id and address.
	Throttle     Throttle
	ThrottleKeys func(id, addr string) []throttle.Key
	// HashToken is the stored form of a credential (the client secret
	// hash: the credentials are random, 256 bits).
	HashToken func(string) string
	// NewUserID makes the id (the sub) of a new user.
	NewUserID func() string
	// ConnectorProblem, if set, says why a provisioner's connector cannot
	// take writes now ("" if it can): gone from the configuration, or the
	// local connector.
	ConnectorProblem func(id string) string
	// BaseURL is the absolute URL of /scim/v2, for meta.location.
	BaseURL string
	Now     func() time.Time
	Logger  *slog.Logger
}

// Handler serves /scim/v2.
type Handler struct{ o Options }

// New returns a Handler.
func New(o Options) *Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Audit == nil {
		o.Audit = func(context.Context, store.AuditEvent) {}
	}
	o.BaseURL = strings.TrimSuffix(o.BaseURL, "/")
	return &Handler{o: o}
}

// MediaType is SCIM's (RFC 7644 §8.1); plain JSON is taken too.
const MediaType = "application/scim+json"

// Audit event types, "scim." and what happened; the actor is
// "scim:<provisioner>".
const (
	AuditUserCreate     = "scim.user_create"
	AuditUserUpdate     = "scim.user_update"
	AuditUserDeactivate = "scim.user_deactivate"
	AuditUserDelete     = "scim.user_delete"
	AuditGroupCreate    = "scim.group_create"
	AuditGroupUpdate    = "scim.group_update"
	AuditGroupDelete    = "scim.group_delete"
	AuditAuthFailure    = "scim.auth_failure"
)

// AuditTypes are the event types this package records.
var AuditTypes = []string{AuditUserCreate, AuditUserUpdate, AuditUserDeactivate, AuditUserDelete,
	AuditGroupCreate, AuditGroupUpdate, AuditGroupDelete, AuditAuthFailure}

// Routes mounts the endpoints on g (the /scim/v2 group).
func (h *Handler) Routes(g *gin.RouterGroup) {
	g.Use(h.authenticate)
	g.GET("/ServiceProviderConfig", h.serviceProviderConfig)
	g.GET("/Schemas", h.schemas)
	g.GET("/Schemas/:id", h.schemas)
	g.GET("/ResourceTypes", h.resourceTypes)
	g.GET("/ResourceTypes/:id", h.resourceTypes)
	g.GET("/Users", h.listUsers)
	g.POST("/Users", h.createUser)
	g.GET("/Users/:id", h.getUser)
	g.PUT("/Users/:id", h.putUser)
	g.PATCH("/Users/:id", h.patchUser)
	g.DELETE("/Users/:id", h.deleteUser)
	g.GET("/Groups", h.listGroups)
	g.POST("/Groups", h.createGroup)
	g.GET("/Groups/:id", h.getGroup)
	g.PUT("/Groups/:id", h.putGroup)
	g.PATCH("/Groups/:id", h.patchGroup)
	g.DELETE("/Groups/:id", h.deleteGroup)
}

// WriteError answers with a SCIM error body; the broker uses it for the
// bodies it refuses before SCIM sees them (413, 415) and unknown paths.
func WriteError(c *gin.Context, status int, scimType, detail string) {
	writeErr(c, &Error{Status: status, Type: scimType, Detail: detail})
}

func writeErr(c *gin.Context, e *Error) {
	c.Header("Cache-Control", "no-store")
	writeJSON(c, e.Status, errorBody(e))
	c.Abort()
}

func writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"schemas":["`+URNError+`"],"status":"500"}`)
	}
	c.Data(status, MediaType+"; charset=utf-8", b)
}

// fail answers a store failure: logged, never shown (503, retry).
func (h *Handler) fail(c *gin.Context, what string, err error) {
	h.o.Logger.ErrorContext(c.Request.Context(), "scim: "+what, "err", err)
	writeErr(c, errf(http.StatusServiceUnavailable, "", "try again later"))
}

// audit records e as done by the request's provisioner.
func (h *Handler) audit(c *gin.Context, e store.AuditEvent) {
	p := provisionerOf(c)
	e.Actor, e.ConnectorID, e.IP = "scim:"+p.ID, p.Connector, c.ClientIP()
	h.o.Audit(c.Request.Context(), e)
}

// newID returns a random UUID (version 4), a group's id.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// nameKey is the record key of a unique name (userName, displayName) of
// provisioner p: hashed, so a long name makes a short key; folded, as
// both compare without case.
func nameKey(p, name string) string {
	// Canonically equivalent names (composed "café", decomposed "café")
	// look the same to a person: one name (Unicode NFC, then case).
	sum := sha256.Sum256([]byte(strings.ToLower(norm.NFC.String(name))))
	return p + "/" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// etag is a record version as a weak entity tag (RFC 7644 §3.14).
func etag(v int64) string { return fmt.Sprintf(`W/"%d"`, v) }

// ifMatch reports whether the request's If-Match (if any) names version.
func ifMatch(c *gin.Context, version int64) bool {
	h := c.GetHeader("If-Match")
	if h == "" {
		return true
	}
	want := etag(version)
	for t := range strings.SplitSeq(h, ",") {
		t = strings.TrimSpace(t)
		// Our ETags are weak and If-Match compares strongly (RFC 9110
		// §13.1.1): the tag must be sent as given, W/"n"; "n" is another.
		if t == "*" || t == want {
			return true
		}
	}
	return false
}
