package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/scim"
	"github.com/portico-idp/portico/broker/store"
)

// seedSCIM puts the file's SCIM provisioners in the store (source
// "config"), replacing what an earlier start put there; audit records
// a new or changed one.
func seedSCIM(ctx context.Context, cfg *config.Config, st store.Store, audit func(what, key, value string) error) error {
	for i, c := range cfg.SCIM.Provisioners {
		hash := c.TokenHash
		if c.Token != "" {
			hash = core.HashClientSecret(c.Token)
		}
		now := time.Now().UTC()
		p := scim.Provisioner{ID: c.ID, Connector: c.Connector, Subject: c.Subject, TokenHash: hash, Source: "config",
			CreatedAt: now, RotatedAt: now, Generation: scim.NewGeneration(), AdoptPrivileged: c.AdoptPrivileged}
		old, err := scim.GetProvisioner(ctx, st, c.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("scim.provisioners[%d]: %w", i, err)
		case old.Connector == p.Connector && old.Subject == p.Subject && old.TokenHash == p.TokenHash && old.Source == p.Source &&
			old.AdoptPrivileged == p.AdoptPrivileged:
			continue
		default:
			// The same provisioner, changed: it keeps what it provisioned.
			p.Version, p.CreatedAt, p.Generation = old.Version, old.CreatedAt, old.Generation
		}
		if err := scim.PutProvisioner(ctx, st, p); err != nil {
			return fmt.Errorf("scim.provisioners[%d]: %w", i, err)
		}
		if err := audit("scim_provisioner_update", "provisioner", c.ID); err != nil {
			return fmt.Errorf("scim.provisioners[%d]: %w", i, err)
		}
	}
	return nil
}
