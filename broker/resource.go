package broker

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/portico-idp/portico/broker/config"
)

// checkResources reads the resource parameters of a request (RFC 8707 §2):
// each an absolute URI without fragment that allowed lists. It returns
// them without repeats, or a description of what is wrong for an
// invalid_target error. Unlike other parameters, resource may repeat.
func checkResources(asked, allowed []string) ([]string, string) {
	if len(asked) > config.MaxResources {
		return nil, "at most " + strconv.Itoa(config.MaxResources) + " resource parameters"
	}
	var out []string
	for _, r := range asked {
		if msg := config.CheckResource(r); msg != "" {
			if len(r) > 64 {
				r = r[:64] + "…"
			}
			return nil, "resource " + strconv.Quote(r) + ": " + msg
		}
		if !slices.Contains(allowed, r) {
			return nil, "resource " + strconv.Quote(r) + " is not allowed for this client"
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, ""
}

// tokenResources are the resources a token request asks for (its resource
// parameters), within granted: the grant's resources, or the client's when
// the grant named none. Without parameters it is granted itself: a token
// for every resource the grant allowed, or (none) for the client.
func tokenResources(asked, granted, clientResources []string) ([]string, *tokenError) {
	if len(asked) == 0 {
		return granted, nil
	}
	allowed := granted
	if len(allowed) == 0 {
		allowed = clientResources
	}
	out, desc := checkResources(asked, allowed)
	if desc != "" {
		return nil, &tokenError{status: http.StatusBadRequest, code: "invalid_target", desc: desc}
	}
	return out, nil
}
