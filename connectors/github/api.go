package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/portico-idp/portico/sdk/upstream"
)

const (
	perPage  = 100     // GitHub's largest page
	maxPages = 50      // 5000 orgs, teams or emails is plenty; more is a loop
	maxBody  = 4 << 20 // one page of JSON
)

// errBadToken is GitHub's 401: the token was revoked, the app's
// authorisation removed, or the user is gone.
var errBadToken = errors.New("github: token refused (401 Bad credentials)")

// apiError is any other non-2xx answer.
type apiError struct {
	status      int
	rateLimited bool
	message     string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("github: API answered %d: %s", e.status, e.message)
}

// api calls GitHub's REST API as one person, with their token.
type api struct {
	base   *url.URL // APIURL
	client *http.Client
	token  string
}

// get reads one resource into v.
func (a *api) get(ctx context.Context, path string, v any) error {
	_, err := a.fetch(ctx, a.base.String()+path, v)
	return err
}

// list reads every page of a list resource, following the Link header's
// rel="next", and calls add with each page's items.
func list[T any](ctx context.Context, a *api, path string, add func([]T)) error {
	next := a.base.String() + path + "?per_page=" + fmt.Sprint(perPage)
	for range maxPages {
		var page []T
		link, err := a.fetch(ctx, next, &page)
		if err != nil {
			return err
		}
		add(page)
		if next = nextLink(link); next == "" {
			return nil
		}
		// The token goes only to the API we were configured with, never
		// wherever a Link header points.
		u, err := url.Parse(next)
		if err != nil || u.Scheme != a.base.Scheme || u.Host != a.base.Host || !strings.HasPrefix(u.Path, a.base.Path) {
			return fmt.Errorf("github: %s: next page %q is not on the API host", path, upstream.Printable(next, 200))
		}
	}
	return fmt.Errorf("github: %s: more than %d pages", path, maxPages)
}

// fetch GETs u into v and returns the response's Link header.
func (a *api) fetch(ctx context.Context, u string, v any) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", err
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return "", errBadToken
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		var m struct {
			Message string `json:"message"`
		}
		json.Unmarshal(body, &m)
		return "", &apiError{
			status: resp.StatusCode, message: upstream.Printable(m.Message, 200),
			rateLimited: resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Remaining") == "0" || resp.Header.Get("Retry-After") != "",
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return "", fmt.Errorf("github: %s: %w", req.URL.Path, err)
	}
	return strings.Join(resp.Header.Values("Link"), ", "), nil
}

// nextLink returns the rel="next" target of a Link header (RFC 8288), or
// "". GitHub writes `<https://api.github.com/user/orgs?page=2>; rel="next",
// <...>; rel="last"`.
func nextLink(h string) string {
	for {
		h = strings.TrimLeft(h, " \t,")
		if !strings.HasPrefix(h, "<") {
			return ""
		}
		end := strings.IndexByte(h, '>')
		if end < 0 {
			return ""
		}
		target := h[1:end]
		h = h[end+1:]
		// Parameters run to the next comma outside quotes.
		var params string
		params, h, _ = cutUnquoted(h, ',')
		for params != "" {
			var p string
			p, params, _ = cutUnquoted(params, ';')
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			v = strings.Trim(strings.TrimSpace(v), `"`)
			for rel := range strings.FieldsSeq(v) {
				if strings.EqualFold(rel, "next") {
					return target
				}
			}
		}
	}
}

// cutUnquoted cuts s at the first sep outside double quotes (in which a
// backslash escapes the next byte).
func cutUnquoted(s string, sep byte) (before, after string, found bool) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == sep && !inQuote:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
