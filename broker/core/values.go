package core

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/tokensvc"
)

// AdminScope is the scope a token for the admin API needs; config.AdminScope
// names the same, and only clients marked admin may be granted it.
const AdminScope = "admin"

// AdminAudience is the audience (RFC 9068 aud) of every access token the
// admin API accepts: tokens granted the admin scope carry it beside their
// client, so a token minted for an application is never one for the API.
func AdminAudience(issuer string) string { return strings.TrimSuffix(issuer, "/") + "/admin" }

// Grant types that clients' settings name and more than one subject
// checks.
const (
	// GrantDeviceCode is the device grant's grant_type (RFC 8628 §3.4).
	GrantDeviceCode = config.GrantDeviceCode
	// GrantTokenExchange is token exchange's (RFC 8693 §2.1).
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// secretHashPrefix marks a client secret hash. Client secrets Portico
// generates carry 256 random bits, so one SHA-256 protects them as well as a
// slow hash would, at a millionth of the cost per token request.
const secretHashPrefix = "sha256:"

// HashClientSecret returns the stored form of a client secret.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// NewClientSecret returns a fresh high-entropy client secret.
func NewClientSecret() string { return tokensvc.NewID() + tokensvc.NewID() }
