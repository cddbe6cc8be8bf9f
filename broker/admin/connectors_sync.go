package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/store"
)

// Connectors changed through the admin API are kept in the store as
// records of this kind, one per connector id. A record overrides the
// configuration file's connector of the same id, and a deleted one is a
// tombstone that keeps a file's connector away: an administrator's change
// lasts over restarts and reaches every replica (SyncConnectors). A
// declarative start drops the file's connectors' records.
const ConnectorRecordKind = "connector"

type connectorRecord struct {
	Spec    ConnectorSpec `json:"spec"`
	Deleted bool          `json:"deleted,omitempty"`
	Actor   string        `json:"actor,omitempty"`
	Time    time.Time     `json:"time"`
}

// saveConnector records cn (or its deletion) and installs it. It answers
// and returns false on failure, when nothing has changed.
func (api *API) saveConnector(c *gin.Context, cn core.Connector, spec ConnectorSpec, deleted bool) bool {
	ctx := c.Request.Context()
	rec := connectorRecord{Spec: spec, Deleted: deleted, Actor: c.GetString(adminActorKey), Time: api.opts.Now().UTC()}
	val, err := json.Marshal(rec)
	if err != nil {
		api.adminFail(c, "encode connector", err)
		return false
	}
	r := store.Record{Kind: ConnectorRecordKind, Key: cn.ID, Value: val}
	old, err := api.store.GetRecord(ctx, ConnectorRecordKind, cn.ID)
	switch {
	case err == nil:
		r.Version = old.Version
	case !errors.Is(err, store.ErrNotFound):
		api.adminFail(c, "read connector", err)
		return false
	}
	// Two administrators changing one connector at once: the record's
	// compare-and-swap lets one win and tells the other.
	if err := api.store.PutRecord(ctx, r); errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) {
		adminError(c, http.StatusConflict, "conflict", "the connector changed meanwhile; read it and try again")
		return false
	} else if err != nil {
		api.adminFail(c, "save connector", err)
		return false
	}
	if deleted {
		api.conns.Install(cn.ID, r.Version+1, nil)
	} else {
		api.conns.Install(cn.ID, r.Version+1, &cn)
	}
	return true
}

// SyncConnectors applies the connector records that are not in force yet:
// at start, to lay the administrators' changes over the file, and again
// whenever another replica may have changed one. A record that no longer
// builds is logged and left out, so one broken connector does not keep the
// others from serving.
func (api *API) SyncConnectors(ctx context.Context) error {
	recs, err := api.store.ListRecords(ctx, ConnectorRecordKind, "")
	if err != nil {
		return fmt.Errorf("broker: read connectors: %w", err)
	}
	for _, r := range recs {
		if api.conns.Applied(r.Key) == r.Version {
			continue
		}
		var rec connectorRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			api.log.ErrorContext(ctx, "connector record unreadable; ignored", "connector", r.Key, "err", err)
			continue
		}
		api.log.InfoContext(ctx, "applying a connector change made through the admin API", "connector", r.Key,
			"deleted", rec.Deleted, "by", rec.Actor, "at", rec.Time)
		if rec.Deleted {
			api.conns.Install(r.Key, r.Version, nil)
			continue
		}
		if api.opts.BuildConnector == nil {
			continue
		}
		cn, err := api.opts.BuildConnector(ctx, rec.Spec)
		if err != nil {
			api.log.ErrorContext(ctx, "connector changed through the admin API does not start; left out", "connector", r.Key, "err", err)
			continue
		}
		api.conns.Install(r.Key, r.Version, &cn)
	}
	return nil
}
