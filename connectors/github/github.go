// Package github is the connector for GitHub and GitHub Enterprise Server.
// GitHub speaks OAuth 2 but not OpenID Connect: there is no id_token, so
// who the person is comes from the REST API, read with the access token
// the login grants.
//
// # The login
//
// The browser goes to GitHub's authorize page with the broker's state (the
// pending request, which the broker checks and spends at the callback)
// and a PKCE S256 challenge, asking for read:user, user:email and read:org.
// At the callback an error parameter (the person cancelled: access_denied)
// refuses the login; otherwise the code is exchanged, and GitHub's way of
// refusing one (HTTP 200 with error=bad_verification_code) is a refusal
// too.
//
// # Who the person is
//
// The subject is the numeric user id from /user: it never changes, unlike
// the login, which people rename and GitHub hands to someone else later.
// The login is the username, the profile name the name (or the login when
// empty). The email is the primary address from /user/emails, verified
// only if GitHub says it is; an unverified primary address is passed on
// with email_verified false, never true.
//
// Groups are the person's organisations (/user/orgs) as "org" and teams
// (/user/teams) as "org:team-slug", every page of each (the API returns
// them 100 at a time with a Link header to the next page; a next page is
// only followed on the API host, so the token never goes elsewhere). They
// are read when the application asked for groups, or allowed_orgs is set:
// then only members of one of those organisations are admitted, and only
// those organisations and their teams become groups, so Portico does not
// pass on memberships the operator did not ask about.
//
// # Refresh
//
// The access token is kept in the identity's ConnectorData, encrypted with
// AES-256-GCM under the connector's key and bound to the subject. OAuth
// app tokens do not expire; Refresh reads the user and their organisations
// again with it. GitHub's 401 (the person revoked the app, or is gone) is
// sdk.ErrUserGone, as is leaving every allowed organisation. Expiring user
// tokens (GitHub Apps) are renewed with their refresh token first.
//
// # Failures
//
// Every call is bounded by timeout (default 10s). Unreachable, slow, 5xx,
// rate-limited and malformed answers wrap sdk.ErrUnavailable.
//
// # GitHub Enterprise Server
//
//	type: github
//	config:
//	  client_id: ...
//	  client_secret: ...
//	  base_url: https://github.example.com     # api_url defaults to base_url/api/v3
//	  allowed_orgs: [platform]
package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/upstream"
)

// Scopes asked of GitHub: the profile, the (private) email addresses, and
// organisation and team memberships.
var Scopes = []string{"read:user", "user:email", "read:org"}

// Connector logs people in with GitHub. It implements
// sdk.CallbackConnector and sdk.RefreshConnector and is safe for
// concurrent use.
type Connector struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	sealer *upstream.Sealer
	api    *url.URL
}

var (
	_ sdk.CallbackConnector = (*Connector)(nil)
	_ sdk.RefreshConnector  = (*Connector)(nil)
)

// New applies cfg's defaults, validates it and returns a connector. key
// (32 bytes, server.Env.Key) encrypts the access tokens kept in
// ConnectorData. New does not contact GitHub. log may be nil.
func New(cfg Config, key []byte, log *slog.Logger) (*Connector, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sealer, err := upstream.NewSealer(key)
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	api, err := url.Parse(strings.TrimSuffix(cfg.APIURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("github: config.api_url: %w", err)
	}
	return &Connector{cfg: cfg, log: log, client: upstream.NewClient(time.Duration(cfg.Timeout)), sealer: sealer, api: api}, nil
}

func (c *Connector) oauth2Config(redirectURL string) *oauth2.Config {
	base := strings.TrimSuffix(c.cfg.BaseURL, "/")
	return &oauth2.Config{
		ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: redirectURL, Scopes: Scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL: base + "/login/oauth/authorize", TokenURL: base + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams, // as GitHub documents it
		},
	}
}

// loginState is what LoginURL hands the broker to keep for the callback.
type loginState struct {
	Verifier string `json:"v"`
}

// LoginURL sends the browser to GitHub's authorize page.
func (c *Connector) LoginURL(_ context.Context, _ sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	ls := loginState{Verifier: oauth2.GenerateVerifier()}
	data, err := json.Marshal(ls)
	if err != nil {
		return sdk.Redirect{}, err
	}
	return sdk.Redirect{URL: c.oauth2Config(callbackURL).AuthCodeURL(state, oauth2.S256ChallengeOption(ls.Verifier)), Data: data}, nil
}

// HandleCallback exchanges the code and reads the person from the API.
func (c *Connector) HandleCallback(ctx context.Context, s sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	q := url.Values(req.Query)
	if e := q.Get("error"); e != "" {
		return sdk.Identity{}, fmt.Errorf("github: %w: GitHub answered %s: %s", sdk.ErrInvalidCredentials,
			upstream.Printable(e, 60), upstream.Printable(q.Get("error_description"), 200))
	}
	var ls loginState
	if err := json.Unmarshal(req.Data, &ls); err != nil || ls.Verifier == "" {
		return sdk.Identity{}, fmt.Errorf("github: %w: no login state for this callback", sdk.ErrInvalidCredentials)
	}
	code := q.Get("code")
	if code == "" {
		return sdk.Identity{}, fmt.Errorf("github: %w: callback without a code", sdk.ErrInvalidCredentials)
	}
	tok, err := c.oauth2Config(req.URL).Exchange(upstream.WithClient(ctx, c.client), code, oauth2.VerifierOption(ls.Verifier))
	if err != nil {
		switch code := upstream.OAuthErrorCode(err); {
		case upstream.Unavailable(err):
			return sdk.Identity{}, fmt.Errorf("github: code exchange: %w: %v", sdk.ErrUnavailable, err)
		case code == "incorrect_client_credentials" || code == "redirect_uri_mismatch":
			c.log.ErrorContext(ctx, "github: GitHub refuses Portico's OAuth app; check client_id, client_secret and the callback URL", "error", code)
			return sdk.Identity{}, fmt.Errorf("github: code exchange: %w: %s", sdk.ErrUnavailable, code)
		default:
			return sdk.Identity{}, fmt.Errorf("github: code exchange: %w: %s", sdk.ErrInvalidCredentials, upstream.Printable(err.Error(), 200))
		}
	}
	id, err := c.identity(ctx, s, tok.AccessToken)
	if errors.Is(err, errBadToken) {
		err = fmt.Errorf("%w: %v", sdk.ErrInvalidCredentials, err)
	}
	if err != nil {
		return sdk.Identity{}, err
	}
	if id.ConnectorData, err = c.seal(tok, id.Subject); err != nil {
		return sdk.Identity{}, err
	}
	return id, nil
}

// Refresh reads the person again with the stored token. A token GitHub
// refuses, and leaving every allowed organisation, are sdk.ErrUserGone.
func (c *Connector) Refresh(ctx context.Context, s sdk.Scopes, old sdk.Identity) (sdk.Identity, error) {
	stored, err := c.sealer.Open(old.ConnectorData, old.Subject)
	if err != nil {
		return sdk.Identity{}, fmt.Errorf("github: %w", err)
	}
	tok := &oauth2.Token{AccessToken: stored.Access, RefreshToken: stored.Refresh}
	if stored.Expiry != 0 {
		tok.Expiry = time.Unix(stored.Expiry, 0)
	}
	if !tok.Valid() && tok.RefreshToken != "" {
		// A GitHub App's expiring user token: renew it first.
		if tok, err = c.oauth2Config("").TokenSource(upstream.WithClient(ctx, c.client), tok).Token(); err != nil {
			if upstream.Unavailable(err) {
				return sdk.Identity{}, fmt.Errorf("github: refresh: %w: %v", sdk.ErrUnavailable, err)
			}
			return sdk.Identity{}, fmt.Errorf("github: refresh: %w: %s", sdk.ErrUserGone, upstream.Printable(err.Error(), 200))
		}
	}
	id, err := c.identity(ctx, s, tok.AccessToken)
	switch {
	case errors.Is(err, errBadToken):
		return sdk.Identity{}, fmt.Errorf("%w: %v", sdk.ErrUserGone, err)
	case errors.Is(err, sdk.ErrInvalidCredentials):
		return sdk.Identity{}, fmt.Errorf("%w: %v", sdk.ErrUserGone, err)
	case err != nil:
		return sdk.Identity{}, err
	case id.Subject != old.Subject:
		return sdk.Identity{}, fmt.Errorf("github: %w: the token now belongs to another user", sdk.ErrUserGone)
	}
	if id.ConnectorData, err = c.seal(tok, id.Subject); err != nil {
		return sdk.Identity{}, err
	}
	return id, nil
}

func (c *Connector) seal(tok *oauth2.Token, subject string) ([]byte, error) {
	t := upstream.Tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken}
	if !tok.Expiry.IsZero() {
		t.Expiry = tok.Expiry.Unix()
	}
	b, err := c.sealer.Seal(t, subject)
	if err != nil {
		return nil, fmt.Errorf("github: seal token: %w", err)
	}
	return b, nil
}

type user struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
	Name  string `json:"name"`
	Email string `json:"email"` // the public address, if any
}

type email struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

type org struct {
	Login string `json:"login"`
}

type team struct {
	Slug         string `json:"slug"`
	Organization org    `json:"organization"`
}

// identity reads who the token's owner is. errBadToken, ErrInvalidCredentials
// (not in an allowed organisation) and errors wrapping ErrUnavailable
// come out; the callers decide what a bad token means.
func (c *Connector) identity(ctx context.Context, s sdk.Scopes, token string) (sdk.Identity, error) {
	a := &api{base: c.api, client: c.client, token: token}
	var u user
	if err := a.get(ctx, "/user", &u); err != nil {
		return sdk.Identity{}, c.apiFailure("/user", err)
	}
	if u.ID <= 0 || u.Login == "" {
		return sdk.Identity{}, fmt.Errorf("github: %w: /user has no id or login", sdk.ErrUnavailable)
	}
	id := sdk.Identity{Subject: strconv.FormatInt(u.ID, 10), Username: u.Login, PreferredUsername: u.Login, Name: u.Name}
	if id.Name == "" {
		id.Name = u.Login
	}

	var emails []email
	err := list(ctx, a, "/user/emails", func(p []email) { emails = append(emails, p...) })
	var ae *apiError
	switch {
	case errors.As(err, &ae) && (ae.status == http.StatusForbidden || ae.status == http.StatusNotFound) && !ae.rateLimited:
		// No user:email grant: fall back to the public address, which
		// we cannot call verified.
		id.Email = u.Email
	case err != nil:
		return sdk.Identity{}, c.apiFailure("/user/emails", err)
	default:
		if i := slices.IndexFunc(emails, func(e email) bool { return e.Primary }); i >= 0 {
			id.Email, id.EmailVerified = emails[i].Email, emails[i].Verified
		}
	}

	if !s.Groups && len(c.cfg.AllowedOrgs) == 0 {
		return id, nil
	}
	allowed := func(o string) bool {
		return len(c.cfg.AllowedOrgs) == 0 || slices.ContainsFunc(c.cfg.AllowedOrgs, func(a string) bool { return strings.EqualFold(a, o) })
	}
	err = list(ctx, a, "/user/orgs", func(p []org) {
		for _, o := range p {
			if o.Login != "" && allowed(o.Login) && !slices.Contains(id.Groups, o.Login) {
				id.Groups = append(id.Groups, o.Login)
			}
		}
	})
	if err != nil {
		return sdk.Identity{}, c.apiFailure("/user/orgs", err)
	}
	if len(c.cfg.AllowedOrgs) > 0 && len(id.Groups) == 0 {
		return sdk.Identity{}, fmt.Errorf("github: %w: %s is in none of allowed_orgs", sdk.ErrInvalidCredentials, upstream.Printable(u.Login, 100))
	}
	if !s.Groups {
		return id, nil
	}
	err = list(ctx, a, "/user/teams", func(p []team) {
		for _, t := range p {
			if g := t.Organization.Login + ":" + t.Slug; t.Slug != "" && allowed(t.Organization.Login) && !slices.Contains(id.Groups, g) {
				id.Groups = append(id.Groups, g)
			}
		}
	})
	if err != nil {
		return sdk.Identity{}, c.apiFailure("/user/teams", err)
	}
	return id, nil
}

// apiFailure sorts an API error: a refused token stays errBadToken;
// everything else is GitHub being unreachable or unwell, or a broken
// answer, for which the person is not to blame.
func (c *Connector) apiFailure(path string, err error) error {
	if errors.Is(err, errBadToken) {
		return err
	}
	return fmt.Errorf("github: %s: %w: %v", path, sdk.ErrUnavailable, err)
}
