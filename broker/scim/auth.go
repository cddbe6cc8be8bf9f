package scim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/throttle"
	"github.com/portico-idp/portico/tokensvc"
)

// A provisioner is one directory (an Okta org, an Entra tenant) that
// provisions through SCIM. Its credential grants SCIM alone, and only
// over the users and groups it provisioned; they belong to its connector.
type Provisioner struct {
	ID string `json:"id"`
	// Connector is the connector whose logins find these users.
	Connector string `json:"connector"`
	// Subject is the SCIM attribute that is the connector's subject:
	// "externalId" or "userName".
	Subject string `json:"subject"`
	// TokenHash is the stored form of the bearer credential.
	TokenHash string    `json:"token_hash,omitempty"`
	Source    string    `json:"source,omitempty"` // "config": declared in the file
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at"`
	Version   int64     `json:"-"`
	// Generation is random, made with the provisioner (NewGeneration):
	// everything it provisions is keyed by id and generation, so a
	// provisioner made again under a deleted one's id inherits nothing.
	// Provisioners stored before it existed have none.
	Generation string `json:"generation,omitempty"`
	// AdoptPrivileged lets it adopt users who have Portico roles (an
	// administrator): without it, such an adoption is refused.
	AdoptPrivileged bool `json:"adopt_privileged,omitempty"`
}

// scope is the prefix of the record keys of what p provisions, and the
// value of the ownership records of its users.
func (p Provisioner) scope() string {
	if p.Generation == "" {
		return p.ID
	}
	return p.ID + "." + p.Generation
}

// NewGeneration returns a fresh Provisioner.Generation: 128 random bits,
// as every Portico id.
func NewGeneration() string { return tokensvc.NewID() }

// Subject attributes a provisioner may name.
const (
	SubjectExternalID = "externalId"
	SubjectUserName   = "userName"
)

// Record kinds.
const (
	kindProvisioner = "scim.provisioner"
	kindUser        = "scim.user"
	kindUserName    = "scim.user_name"
	kindGroup       = "scim.group"
	kindGroupName   = "scim.group_name"
)

var provisionerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// CheckProvisioner returns what is wrong with p's id and subject, or "".
func CheckProvisioner(p Provisioner) string {
	switch {
	case !provisionerID.MatchString(p.ID):
		return "id: 1-63 of a-z, 0-9, - and _, starting with a letter or digit"
	case p.Connector == "":
		return "connector: required"
	case p.Subject != SubjectExternalID && p.Subject != SubjectUserName:
		return `subject: "externalId" or "userName"`
	}
	return ""
}

// tokenPrefix begins every credential, so a leaked one is recognisable
// (secret scanners) and never mistaken for another kind of token.
const tokenPrefix = "portico_scim."

// Token is the bearer credential of provisioner id with secret (random,
// from the broker's client secret generator).
func Token(id, secret string) string { return tokenPrefix + id + "." + secret }

// parseToken splits a credential into provisioner id and the whole; ok
// false for anything not shaped like one.
func parseToken(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, tokenPrefix)
	if !ok || len(tok) > 512 {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, ".")
	if !ok || secret == "" || !provisionerID.MatchString(id) {
		return "", false
	}
	return id, true
}

// GetProvisioner reads a provisioner.
func GetProvisioner(ctx context.Context, st RecordStore, id string) (Provisioner, error) {
	r, err := st.GetRecord(ctx, kindProvisioner, id)
	if err != nil {
		return Provisioner{}, err
	}
	var p Provisioner
	if err := json.Unmarshal(r.Value, &p); err != nil {
		return Provisioner{}, fmt.Errorf("scim: provisioner %s: %w", id, err)
	}
	p.Version = r.Version
	return p, nil
}

// ListProvisioners returns every provisioner.
func ListProvisioners(ctx context.Context, st RecordStore) ([]Provisioner, error) {
	recs, err := st.ListRecords(ctx, kindProvisioner, "")
	if err != nil {
		return nil, err
	}
	out := make([]Provisioner, 0, len(recs))
	for _, r := range recs {
		var p Provisioner
		if err := json.Unmarshal(r.Value, &p); err != nil {
			return nil, fmt.Errorf("scim: provisioner %s: %w", r.Key, err)
		}
		p.Version = r.Version
		out = append(out, p)
	}
	return out, nil
}

// PutProvisioner stores p: Version 0 creates it (store.ErrAlreadyExists
// if taken), otherwise a compare-and-swap.
func PutProvisioner(ctx context.Context, st RecordStore, p Provisioner) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return st.PutRecord(ctx, store.Record{Kind: kindProvisioner, Key: p.ID, Value: v, Version: p.Version})
}

func provisionerOf(c *gin.Context) Provisioner {
	p, _ := c.Get("portico.scim.provisioner")
	pp, _ := p.(Provisioner)
	return pp
}

// authenticate admits a request bearing a provisioner's credential and
// nothing else: no access token, no client secret. Failures are counted
// per provisioner id and address, like client authentication.
func (h *Handler) authenticate(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	ctx := c.Request.Context()
	unauthorized := func(detail string) {
		if c.GetHeader("Authorization") != "" {
			// A credential was sent and is no good (RFC 6750 §3.1).
			c.Header("WWW-Authenticate", `Bearer realm="portico-scim", error="invalid_token"`)
		} else {
			c.Header("WWW-Authenticate", `Bearer realm="portico-scim"`)
		}
		writeErr(c, errf(http.StatusUnauthorized, "", "%s", detail))
	}
	auth := c.GetHeader("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	if auth == "" || !strings.EqualFold(scheme, "Bearer") {
		unauthorized("a provisioning credential is required (Authorization: Bearer)")
		return
	}
	tok = strings.TrimSpace(tok)
	id, shaped := parseToken(tok)
	var keys = h.throttleKeys(id, c.ClientIP())
	if h.o.Throttle != nil {
		d, err := h.o.Throttle.Peek(ctx, keys...)
		if err != nil {
			h.fail(c, "throttle", err)
			return
		}
		if !d.Allowed {
			c.Header("Retry-After", d.RetryAfterHeader())
			writeErr(c, errf(http.StatusTooManyRequests, "", "too many failed authentications; retry after %s s", d.RetryAfterHeader()))
			return
		}
	}
	failed := func() {
		if h.o.Throttle != nil {
			if err := h.o.Throttle.Fail(ctx, keys...); err != nil {
				h.o.Logger.ErrorContext(ctx, "scim: record failure", "err", err)
			}
		}
		h.o.Audit(ctx, store.AuditEvent{Type: AuditAuthFailure, Actor: "anonymous", IP: c.ClientIP(),
			Details: map[string]string{"provisioner": id}})
		unauthorized("the provisioning credential is invalid")
	}
	if !shaped {
		failed()
		return
	}
	p, err := GetProvisioner(ctx, h.o.Store, id)
	if errors.Is(err, store.ErrNotFound) {
		// Hash anyway: an unknown id costs what a wrong secret does.
		subtle.ConstantTimeCompare([]byte(h.o.HashToken(tok)), []byte(h.o.HashToken("")))
		failed()
		return
	} else if err != nil {
		h.fail(c, "read provisioner", err)
		return
	}
	if p.TokenHash == "" || subtle.ConstantTimeCompare([]byte(h.o.HashToken(tok)), []byte(p.TokenHash)) != 1 {
		failed()
		return
	}
	if c.Request.Method != http.MethodGet && h.o.ConnectorProblem != nil {
		if msg := h.o.ConnectorProblem(p.Connector); msg != "" {
			// Users made now could never log in: refuse, say why.
			writeErr(c, errf(http.StatusServiceUnavailable, "", "this provisioner cannot write: %s", msg))
			return
		}
	}
	c.Set("portico.scim.provisioner", p)
	c.Next()
}

func (h *Handler) throttleKeys(id, addr string) []throttle.Key {
	if h.o.ThrottleKeys == nil {
		return nil
	}
	return h.o.ThrottleKeys("scim:"+id, addr)
}
