package protocol

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/broker/core"
)

// checkResources reads the resource parameters of a request (RFC 8707 §2):
// each an absolute URI without fragment that allowed lists, never the
// admin API's audience (whatever a client's list says: that audience goes
// with the admin scope only). It returns them without repeats, or a
// description of what is wrong for an invalid_target error. Unlike other
// parameters, resource may repeat. what names allowed in the description.
func (p *Server) checkResources(asked, allowed []string, what string) ([]string, string) {
	if len(asked) > config.MaxResources {
		return nil, "at most " + strconv.Itoa(config.MaxResources) + " resource parameters"
	}
	var out []string
	for _, r := range asked {
		quoted := r
		if len(quoted) > 64 {
			quoted = quoted[:64] + "…"
		}
		quoted = strconv.Quote(quoted)
		if msg := config.CheckResource(r); msg != "" {
			return nil, "resource " + quoted + ": " + msg
		}
		if !slices.Contains(allowed, r) || r == core.AdminAudience(p.opts.Issuer) {
			return nil, "resource " + quoted + " is not " + what
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, ""
}

// tokenResources are the resources a token request asks for (its resource
// parameters), within granted: the resources the authorization named, or
// the client's when it named none. Without parameters it is granted
// itself: a token for every resource the authorization named, or (none)
// for the client.
func (p *Server) tokenResources(asked, granted, clientResources []string) ([]string, *tokenError) {
	if len(asked) == 0 {
		return granted, nil
	}
	allowed, what := granted, "one the authorization granted"
	if len(allowed) == 0 {
		allowed, what = clientResources, "allowed for this client"
	}
	out, desc := p.checkResources(asked, allowed, what)
	if desc != "" {
		return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_target", desc: desc}
	}
	return out, nil
}
