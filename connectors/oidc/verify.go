package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// verifiedClaims verifies the id_token in tok and returns its claims,
// merged with userinfo's when configured. nonce is the one sent with the
// authorization request, or "" on refresh (OIDC Core §12.2: a refreshed
// id_token carries none to check). A token that does not verify wraps
// sdk.ErrInvalidCredentials; keys or userinfo out of reach wrap
// sdk.ErrUnavailable.
func (c *Connector) verifiedClaims(ctx context.Context, d *discovered, tok *oauth2.Token, nonce string) (claims, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, fmt.Errorf("%s: %w: the token response has no id_token", c.cfg.kind, sdk.ErrInvalidCredentials)
	}
	cl, err := c.verifyIDToken(ctx, d, raw, tok.AccessToken, nonce)
	if err != nil {
		return nil, err
	}
	if c.cfg.GetUserInfo {
		ui, err := c.userInfo(ctx, d, tok.AccessToken)
		if err != nil {
			return nil, err
		}
		// OIDC Core §5.3.2: userinfo is about the id_token's subject or it
		// must not be used.
		if ui.str("sub") != cl.str("sub") {
			return nil, fmt.Errorf("%s: %w: userinfo is about another subject", c.cfg.kind, sdk.ErrInvalidCredentials)
		}
		maps.Copy(cl, ui)
	}
	return cl, nil
}

// verifyIDToken checks signature (by the upstream's current keys),
// issuer, audience, authorized party, expiry, nonce and at_hash.
func (c *Connector) verifyIDToken(ctx context.Context, d *discovered, raw, accessToken, nonce string) (claims, error) {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: id_token: %s", c.cfg.kind, sdk.ErrInvalidCredentials, fmt.Sprintf(format, args...))
	}
	fetchFailed := new(bool)
	idt, err := d.verifier.Verify(context.WithValue(ctx, fetchFailedKey{}, fetchFailed), raw)
	if err != nil {
		if *fetchFailed {
			return nil, fmt.Errorf("%s: %w: id_token keys: %v", c.cfg.kind, sdk.ErrUnavailable, err)
		}
		return nil, refuse("%v", err)
	}
	var payload json.RawMessage
	if err := idt.Claims(&payload); err != nil {
		return nil, refuse("%v", err)
	}
	cl, err := parseClaims(payload)
	if err != nil {
		return nil, refuse("%v", err)
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return nil, refuse("nonce does not match the login's")
	}
	// OIDC Core §3.1.3.7: with several audiences, azp must be us.
	if azp := cl.str("azp"); len(idt.Audience) > 1 && azp != "" && azp != c.cfg.ClientID {
		return nil, refuse("issued to %q", upstream.Printable(azp, 100))
	}
	if idt.AccessTokenHash != "" && accessToken != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return nil, refuse("%v", err)
		}
	}
	if t := c.cfg.tenancy; t != nil {
		if err := t.check(idt.Issuer, cl); err != nil {
			return nil, refuse("%v", err)
		}
	}
	return cl, nil
}

// userInfo reads the userinfo endpoint with the access token. Only JSON
// responses are supported (not signed userinfo JWTs).
func (c *Connector) userInfo(ctx context.Context, d *discovered, accessToken string) (claims, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.userinfo, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: userinfo: %w", c.cfg.kind, err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: userinfo: %w: %v", c.cfg.kind, sdk.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: userinfo: %w: %v", c.cfg.kind, sdk.ErrUnavailable, err)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s: userinfo: %w: %s", c.cfg.kind, sdk.ErrInvalidCredentials, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s: userinfo: %w: %s", c.cfg.kind, sdk.ErrUnavailable, resp.Status)
	}
	cl, err := parseClaims(body)
	if err != nil {
		return nil, fmt.Errorf("%s: userinfo: %w: %v", c.cfg.kind, sdk.ErrUnavailable, err)
	}
	return cl, nil
}

// tenancy describes a multi-tenant upstream (Microsoft's common,
// organizations and consumers endpoints): each token's issuer is
// prefix + its tenant id + suffix, and the tenant id is also in a claim.
// The discovery document names the issuer as a template,
// "https://login.microsoftonline.com/{tenantid}/v2.0".
type tenancy struct {
	prefix, suffix string
	claim          string   // the token's tenant id claim ("tid")
	allowed        []string // if set, only these tenants
	denied         []string // never these tenants
}

// matchesDocument accepts the template or a concrete tenant's issuer
// (Microsoft's consumers document names the consumers tenant).
func (t *tenancy) matchesDocument(iss string) bool {
	mid, ok := strings.CutPrefix(iss, t.prefix)
	if mid, ok = strings.CutSuffix(mid, t.suffix); !ok {
		return false
	}
	return mid == "{tenantid}" || validTenantID(mid)
}

// check requires iss to be the issuer of the tenant the token names, and
// that tenant to be admitted. Without this, any tenant's token would pass.
func (t *tenancy) check(iss string, cl claims) error {
	tid := cl.str(t.claim)
	switch {
	case !validTenantID(tid):
		return fmt.Errorf("no valid %q claim", t.claim)
	case iss != t.prefix+tid+t.suffix:
		return fmt.Errorf("issuer %q is not tenant %s's", upstream.Printable(iss, 200), tid)
	case slices.Contains(t.denied, tid):
		return fmt.Errorf("tenant %s is not accepted here", tid)
	case len(t.allowed) > 0 && !slices.Contains(t.allowed, tid):
		return fmt.Errorf("tenant %s is not one of allowed_tenants", tid)
	}
	return nil
}

// addTenant records a multi-tenant upstream's tenant in the identity.
func (c *Connector) addTenant(id *sdk.Identity, cl claims) {
	if t := c.cfg.tenancy; t != nil {
		id.Attributes = map[string][]string{"tenant": {cl.str(t.claim)}}
	}
}
