package oidc_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/oidc"
	"github.com/portico-idp/portico/connectors/oidc/oidctest"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	iss := newIssuer(t)
	c := newConnector(t, iss, nil)
	first, err := login(t, c, offline)
	if err != nil {
		t.Fatal(err)
	}
	iss.Update(func(s *oidctest.Settings) {
		s.Claims["groups"] = []any{"staff", "ops"}
		s.Claims["name"] = "Alice Renamed"
	})
	fresh, err := c.Refresh(ctx, offline, first)
	if err != nil {
		t.Fatal(err)
	}
	if iss.Refreshes() != 1 {
		t.Errorf("upstream refreshes: %d", iss.Refreshes())
	}
	if fresh.Subject != first.Subject || fresh.Name != "Alice Renamed" || !slices.Equal(fresh.Groups, []string{"staff", "ops"}) {
		t.Errorf("refreshed identity %+v", fresh)
	}
	if len(fresh.ConnectorData) == 0 || bytes.Equal(fresh.ConnectorData, first.ConnectorData) {
		t.Error("the rotated refresh token was not kept")
	}
	// The broker may hand back older data (two refreshes raced at the
	// store): the connector follows the rotation instead of presenting a
	// dead token.
	if _, err := c.Refresh(ctx, offline, first); err != nil {
		t.Errorf("refresh with pre-rotation data: %v", err)
	}
	if _, err := c.Refresh(ctx, offline, fresh); err != nil {
		t.Errorf("refresh with the newest data: %v", err)
	}
}

// Concurrent refreshes for one person all succeed against an upstream that
// rotates and refuses a token's second use.
func TestConcurrentRefresh(t *testing.T) {
	iss := newIssuer(t)
	c := newConnector(t, iss, nil)
	id, err := login(t, c, offline)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = c.Refresh(context.Background(), offline, id) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if iss.Refreshes() != n {
		t.Errorf("upstream refreshes %d, want %d", iss.Refreshes(), n)
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name     string
		upstream func(*oidctest.Issuer)
		cfg      func(*oidc.Config)
		edit     func(*sdk.Identity)
		want     error // nil: any error that is neither unavailable nor success
	}{
		{name: "grant revoked", upstream: func(i *oidctest.Issuer) { i.RevokeAll() }, want: sdk.ErrUserGone},
		{name: "invalid_grant", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.RefreshError = "invalid_grant" }) }, want: sdk.ErrUserGone},
		// Dex's answer to a claimed or expired refresh token: any 4xx
		// but 429 is a refusal (RFC 6749 §5.2), not an outage.
		{name: "invalid_request", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.RefreshError = "invalid_request" }) }, want: sdk.ErrUserGone},
		{name: "403 without an OAuth body", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.TokenStatus = 403 }) }, want: sdk.ErrUserGone},
		{name: "429 slow_down", upstream: func(i *oidctest.Issuer) {
			i.Update(func(s *oidctest.Settings) { s.RefreshError, s.RefreshStatus = "slow_down", 429 })
		}, want: sdk.ErrUnavailable},
		{name: "503 temporarily_unavailable", upstream: func(i *oidctest.Issuer) {
			i.Update(func(s *oidctest.Settings) { s.RefreshError, s.RefreshStatus = "temporarily_unavailable", 503 })
		}, want: sdk.ErrUnavailable},
		{name: "client refused", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.RefreshError = "invalid_client" }) }, want: sdk.ErrUnavailable},
		{name: "down", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.Down = true }) }, want: sdk.ErrUnavailable},
		{name: "5xx", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.TokenStatus = 502 }) }, want: sdk.ErrUnavailable},
		{name: "slow", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.Delay = 3 * time.Second }) },
			cfg: func(c *oidc.Config) { c.Timeout = upstream.Duration(200 * time.Millisecond) }, want: sdk.ErrUnavailable},
		{name: "no answer", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.Hang = true }) },
			cfg: func(c *oidc.Config) { c.Timeout = upstream.Duration(200 * time.Millisecond) }, want: sdk.ErrUnavailable},
		{name: "subject changed", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.Claims["sub"] = "bob" }) }, want: sdk.ErrUserGone},
		{name: "left the allowed groups", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.Claims["groups"] = []any{"staff"} }) },
			cfg: func(c *oidc.Config) { c.AllowedGroups = []string{"admins"} }, want: sdk.ErrUserGone},
		{name: "forged id_token", upstream: func(i *oidctest.Issuer) { i.Update(func(s *oidctest.Settings) { s.UnknownKey = true }) }, want: sdk.ErrInvalidCredentials},
		{name: "tampered data", edit: func(id *sdk.Identity) { id.ConnectorData[len(id.ConnectorData)-1] ^= 1 }},
		{name: "data of another subject", edit: func(id *sdk.Identity) { id.Subject = "bob" }},
		{name: "no data", edit: func(id *sdk.Identity) { id.ConnectorData = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := newIssuer(t)
			c := newConnector(t, iss, tt.cfg)
			id, err := login(t, c, offline)
			if err != nil {
				t.Fatal(err)
			}
			if tt.upstream != nil {
				tt.upstream(iss)
			}
			if tt.edit != nil {
				tt.edit(&id)
			}
			_, err = c.Refresh(context.Background(), offline, id)
			switch {
			case err == nil:
				t.Fatal("refresh succeeded")
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			case tt.want == nil && errors.Is(err, sdk.ErrUnavailable):
				t.Fatalf("err = %v: a broken record is not a passing outage", err)
			}
		})
	}
}
