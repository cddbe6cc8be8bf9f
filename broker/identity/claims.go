package identity

import (
	"maps"
	"slices"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/tokensvc"
)

// SupportedScopes are the standard scopes, which every client may ask for.
// Custom scopes (Options.Scopes) are for the clients whose ExtraScopes
// name them; any other scope is refused with invalid_scope rather than
// silently dropped.
var SupportedScopes = []string{"openid", "profile", "email", "groups", "offline_access", "roles"}

// standardClaims are the user claims the standard scopes release.
var standardClaims = []string{"email", "email_verified", "name", "preferred_username", "groups", "roles"}

// ScopesSupported lists every scope, custom ones last, for discovery.
func (s *Service) ScopesSupported() []string {
	return append(slices.Clone(SupportedScopes), slices.Sorted(maps.Keys(s.opts.Scopes))...)
}

// ClaimsSupported lists the user claims any scope may release.
func (s *Service) ClaimsSupported() []string {
	var custom []string
	for _, claims := range s.opts.Scopes {
		for _, c := range claims {
			if !slices.Contains(custom, c) {
				custom = append(custom, c)
			}
		}
	}
	slices.Sort(custom)
	return append(slices.Clone(standardClaims), custom...)
}

// Claims returns the claims of user that scopes allow (OIDC Core §5.4)
// for a client whose extra scopes are extra: a custom scope the client may
// no longer ask for (its configuration changed since) releases nothing.
// Groups are the upstream groups and then Portico's local ones; roles and
// custom claims travel in Extra. A custom claim is a list when its mapping
// rule says multi, else a string.
func (s *Service) Claims(user store.User, scopes, extra []string) tokensvc.Claims {
	var cl tokensvc.Claims
	if slices.Contains(scopes, "email") && user.Email != "" {
		v := user.EmailVerified
		cl.Email, cl.EmailVerified = user.Email, &v
	}
	if slices.Contains(scopes, "profile") {
		cl.Name, cl.PreferredUsername = user.Name, user.Username
	}
	if slices.Contains(scopes, "groups") {
		cl.Groups = slices.Clone(user.Groups)
		for _, g := range slices.Concat(user.LocalGroups, user.ProvisionedGroups) { // admin's, then SCIM's
			if !slices.Contains(cl.Groups, g) {
				cl.Groups = append(cl.Groups, g)
			}
		}
	}
	set := func(k string, v any) {
		if cl.Extra == nil {
			cl.Extra = map[string]any{}
		}
		cl.Extra[k] = v
	}
	if slices.Contains(scopes, "roles") && len(user.Roles) > 0 {
		set("roles", slices.Clone(user.Roles))
	}
	for _, sc := range scopes {
		claims, custom := s.opts.Scopes[sc]
		if !custom || !slices.Contains(extra, sc) {
			continue
		}
		for _, c := range claims {
			switch vals := user.Attributes[c]; {
			case len(vals) == 0:
			case s.listClaims[c]:
				set(c, slices.Clone(vals))
			default:
				set(c, vals[0])
			}
		}
	}
	return cl
}

// CustomScopes reports whether scopes hold a custom scope.
func (s *Service) CustomScopes(scopes []string) bool {
	return slices.ContainsFunc(scopes, func(sc string) bool { _, ok := s.opts.Scopes[sc]; return ok })
}
