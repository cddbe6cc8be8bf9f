package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/scim"
	"github.com/portico-idp/portico/broker/store"
)

// Declarative configuration (issue 19; config.Config.Declarative).
//
// Every start records which entries the file declared, in one store
// record. With declarative: true, the entries of the previous record the
// file no longer declares are removed; without it the record keeps
// growing (the union), so that turning declarative on later removes
// what earlier files had and the current one has not.

const (
	fromFileKind = "config_from_file"
	fromFileKey  = "entries"
)

// fromFile are the entries the file declared: client ids, usernames,
// connector ids, SCIM provisioner ids.
type fromFile struct {
	Clients      []string `json:"clients,omitempty"`
	Users        []string `json:"users,omitempty"`
	Connectors   []string `json:"connectors,omitempty"`
	Provisioners []string `json:"provisioners,omitempty"`
}

func declared(cfg *config.Config) fromFile {
	var f fromFile
	for _, c := range cfg.Clients {
		f.Clients = append(f.Clients, c.ID)
	}
	for _, u := range cfg.Users {
		f.Users = append(f.Users, u.Username)
	}
	for _, c := range cfg.Connectors {
		f.Connectors = append(f.Connectors, c.ID)
	}
	for _, p := range cfg.SCIM.Provisioners {
		f.Provisioners = append(f.Provisioners, p.ID)
	}
	return f
}

// declare applies declarative mode after seed wrote the file's entries,
// and records what the file declared. audit is seed's.
func declare(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger, audit func(what, key, value string) error) error {
	now := declared(cfg)
	rec, err := st.GetRecord(ctx, fromFileKind, fromFileKey)
	var prev fromFile
	switch {
	case errors.Is(err, store.ErrNotFound):
		rec = store.Record{Kind: fromFileKind, Key: fromFileKey}
	case err != nil:
		return fmt.Errorf("declarative: %w", err)
	default:
		if err := json.Unmarshal(rec.Value, &prev); err != nil {
			log.Warn("declarative: the record of the file's earlier entries is unreadable; nothing removed", "err", err)
			prev = fromFile{}
		}
	}
	next := now
	if cfg.Declarative {
		if err := removeUndeclared(ctx, st, log, audit, prev, now); err != nil {
			return err
		}
		if err := resetDeclared(ctx, cfg, st, log, audit); err != nil {
			return err
		}
	} else {
		next = fromFile{Clients: union(prev.Clients, now.Clients), Users: union(prev.Users, now.Users),
			Connectors: union(prev.Connectors, now.Connectors), Provisioners: union(prev.Provisioners, now.Provisioners)}
	}
	if rec.Value, err = json.Marshal(next); err != nil {
		return err
	}
	// Version 0 creates; another replica starting at once may win, which
	// is fine: it read the same file.
	if err := st.PutRecord(ctx, rec); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrAlreadyExists) {
		return fmt.Errorf("declarative: %w", err)
	}
	return nil
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// removeUndeclared removes what prev declared and now does not.
func removeUndeclared(ctx context.Context, st store.Store, log *slog.Logger, audit func(what, key, value string) error, prev, now fromFile) error {
	gone := func(list, keep []string) []string {
		var out []string
		for _, x := range list {
			if !slices.Contains(keep, x) {
				out = append(out, x)
			}
		}
		return out
	}
	for _, id := range gone(prev.Clients, now.Clients) {
		if err := st.DeleteClient(ctx, id); errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("declarative: remove client %s: %w", id, err)
		}
		log.Info("declarative: removed a client the configuration file no longer has", "client_id", id)
		if err := audit("client_delete", "client_id", id); err != nil {
			return err
		}
	}
	for _, name := range gone(prev.Users, now.Users) {
		acc, err := st.GetLocalAccountByLogin(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("declarative: remove user %s: %w", name, err)
		}
		if err := st.DeleteLocalAccount(ctx, acc.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("declarative: remove user %s: %w", name, err)
		}
		log.Info("declarative: removed a user the configuration file no longer has", "username", name)
		if err := audit("account_delete", "username", name); err != nil {
			return err
		}
	}
	for _, id := range gone(prev.Connectors, now.Connectors) {
		// The file's connectors are built from the file; one the admin
		// API changed has a record, which would bring it back.
		err := st.DeleteRecord(ctx, admin.ConnectorRecordKind, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("declarative: remove connector %s: %w", id, err)
		}
		log.Info("declarative: removed a connector the configuration file no longer has", "connector", id)
		if err := audit("connector_delete", "connector", id); err != nil {
			return err
		}
	}
	for _, id := range gone(prev.Provisioners, now.Provisioners) {
		p, err := scim.GetProvisioner(ctx, st, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && p.Source != "config") {
			continue // gone, or made through the admin API since
		} else if err != nil {
			return fmt.Errorf("declarative: remove SCIM provisioner %s: %w", id, err)
		}
		if err := scim.DeleteProvisioner(ctx, st, p); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("declarative: remove SCIM provisioner %s: %w", id, err)
		}
		log.Info("declarative: removed a SCIM provisioner the configuration file no longer has", "provisioner", id)
		if err := audit("scim_provisioner_delete", "provisioner", id); err != nil {
			return err
		}
	}
	return nil
}

// resetDeclared makes the stored state of the file's users and connectors
// the file's: seed creates users but keeps their later changes, and the
// admin API's connector records override the file.
func resetDeclared(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger, audit func(what, key, value string) error) error {
	for i, u := range cfg.Users {
		acc, err := st.GetLocalAccountByLogin(ctx, u.Username)
		if err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
		want := acc
		want.Username, want.Email, want.Name, want.Groups, want.PasswordHash = u.Username, u.Email, u.Name, u.Groups, u.PasswordHash
		want.EmailVerified = u.EmailVerified == nil || *u.EmailVerified
		if len(want.Groups) == 0 {
			want.Groups = nil
		}
		if len(acc.Groups) == 0 {
			acc.Groups = nil
		}
		if reflect.DeepEqual(acc, want) {
			continue
		}
		if err := st.UpdateLocalAccount(ctx, want); err != nil {
			return fmt.Errorf("users[%d]: %w", i, err)
		}
		log.Info("declarative: reset a user to the configuration file's", "username", u.Username)
		if err := audit("account_update", "username", u.Username); err != nil {
			return err
		}
	}
	for _, c := range cfg.Connectors {
		err := st.DeleteRecord(ctx, admin.ConnectorRecordKind, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		} else if err != nil {
			return fmt.Errorf("declarative: connector %s: %w", c.ID, err)
		}
		log.Info("declarative: dropped the admin API's change to a connector the configuration file has", "connector", c.ID)
		if err := audit("connector_update", "connector", c.ID); err != nil {
			return err
		}
	}
	return nil
}

// fileManaged are the entries read-only through the admin API, with
// declarative: true; nil without.
func fileManaged(ctx context.Context, cfg *config.Config, st store.Store) (*admin.FileManaged, error) {
	if !cfg.Declarative {
		return nil, nil
	}
	m := &admin.FileManaged{Clients: map[string]bool{}, Accounts: map[string]bool{}, Connectors: map[string]bool{}}
	for _, c := range cfg.Clients {
		m.Clients[c.ID] = true
	}
	for _, c := range cfg.Connectors {
		m.Connectors[c.ID] = true
	}
	for i, u := range cfg.Users {
		acc, err := st.GetLocalAccountByLogin(ctx, u.Username)
		if errors.Is(err, store.ErrNotFound) {
			continue // not seeded yet (the CLI before a first start)
		} else if err != nil {
			return nil, fmt.Errorf("users[%d]: %w", i, err)
		}
		m.Accounts[acc.ID] = true
	}
	return m, nil
}
