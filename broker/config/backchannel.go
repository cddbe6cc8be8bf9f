package config

import (
	"net/url"
	"strings"
)

// maxBackchannelURILen bounds a back-channel logout URI: Portico stores it
// and sends requests to it.
const maxBackchannelURILen = 2048

// CheckBackchannelLogoutURI returns what is wrong with raw as a client's
// backchannel_logout_uri (OpenID Connect Back-Channel Logout 1.0 §2.2), or
// "": an absolute https URL (http only on a loopback host, for tests and
// development), with no fragment and under the rules of redirect URIs. A
// query is allowed (§2.2). The file, the admin API and dynamic
// registration apply the same rule.
func CheckBackchannelLogoutURI(raw string) string {
	if len(raw) > maxBackchannelURILen {
		return "must be at most 2048 characters"
	}
	// A confidential client's rules: https, or http on loopback; no
	// custom scheme, no user info, no wildcard, no fragment.
	if msg := checkRedirectURI(raw, false); msg != "" {
		return msg
	}
	u, _ := url.Parse(raw) // checked above
	if s := strings.ToLower(u.Scheme); s != "https" && s != "http" {
		return "must be an https URL"
	}
	return ""
}
