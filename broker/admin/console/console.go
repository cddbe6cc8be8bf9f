// Package console is the admin console: web pages at /admin/ from which
// an administrator runs Portico (docs/console.md).
//
// It is a client of Portico like any other. It logs the administrator in
// through Portico's own authorization code flow with PKCE, as the
// built-in public client portico-console, which the configuration trusts
// for administration, so second factors, step-up and logout apply to it as
// to any application. Then it does everything through the public admin API
// with the administrator's token, served in process: the console can do
// nothing a script with the same token cannot, and the API's checks (the
// token's client, scope, audience and the user's role) are the console's.
//
// It imports no other subject. What it needs of the broker — the HTTP
// handler to send its token and API requests to, and a few store records
// for its sessions — it declares itself (Deps).
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var consoleCSS []byte

// Options configure the console.
type Options struct {
	Issuer string
	// ClientID is the console's client: public, trusted for
	// administration, redirect URI Issuer + "/admin/callback".
	ClientID string
	// FreshLogin is how recent a login must be for an action that changes
	// security (10m).
	FreshLogin time.Duration
	Now        func() time.Time
}

// Records is the part of the store the console keeps its sessions in.
type Records interface {
	GetRecord(ctx context.Context, kind, key string) (store.Record, error)
	PutRecord(ctx context.Context, r store.Record) error
	DeleteRecord(ctx context.Context, kind, key string) error
}

// Deps are what the console uses.
type Deps struct {
	// Broker serves the token endpoint and the admin API the console
	// calls in process.
	Broker http.Handler
	Store  Records
	Log    *slog.Logger
	// Text is the message catalogue in a language (ui.Pages.MsgIn): the
	// console's wording is the theme's like the login pages'. Lang is a
	// request's language (ui.Pages.Lang), Languages those offered, the
	// default first; nil Lang is always the default, nil Languages "en".
	Text      func(lang, id string) string
	Lang      func(*gin.Context) string
	Languages []string
	Product   string
}

// Console serves the console's pages.
type Console struct {
	opts   Options
	issuer *url.URL
	secure bool
	broker http.Handler
	store  Records
	log    *slog.Logger
	text   func(lang, id string) string
	lang   func(*gin.Context) string
	langs  []string
	tpl    map[string]*template.Template // by language
	prod   string
}

// New returns the console.
func New(opts Options, d Deps) (*Console, error) {
	iss, err := url.Parse(opts.Issuer)
	if err != nil {
		return nil, err
	}
	if opts.FreshLogin <= 0 {
		opts.FreshLogin = 10 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Console{opts: opts, issuer: iss, secure: iss.Scheme == "https", broker: d.Broker, store: d.Store,
		log: d.Log, text: d.Text, lang: d.Lang, langs: d.Languages, prod: d.Product, tpl: map[string]*template.Template{}}
	if len(c.langs) == 0 {
		c.langs = []string{"en"}
	}
	for _, l := range c.langs {
		c.tpl[l], err = template.New("console").Funcs(template.FuncMap{
			"t": func(id string) string { return c.text(l, id) }, "path": c.path, "fmtTime": fmtTime, "join": strings.Join, "has": slices.Contains[[]string],
		}).ParseFS(templateFS, "templates/*.html")
		if err != nil {
			return nil, fmt.Errorf("console: parse templates: %w", err)
		}
	}
	return c, nil
}

// language is the request's language, one of c.langs.
func (c *Console) language(g *gin.Context) string {
	if g != nil && c.lang != nil {
		if l := c.lang(g); c.tpl[l] != nil {
			return l
		}
	}
	return c.langs[0]
}

// t is message id in the request's language.
func (c *Console) t(g *gin.Context, id string) string {
	return c.text(c.language(g), id)
}

// Routes adds the console's pages to r, below /admin/; limit bounds the
// logins one address may start (each stores a record, as /authorize does).
func (c *Console) Routes(r gin.IRoutes, limit gin.HandlerFunc) {
	r.GET(c.path("/admin/"), c.page(c.overview))
	r.GET(c.path("/admin/static/console.css"), serveCSS)
	r.GET(c.path("/admin/login"), limit, c.login)
	r.GET(c.path("/admin/callback"), c.callback)
	r.POST(c.path("/admin/logout"), c.session(c.logout))
	r.GET(c.path("/admin/users"), c.page(c.users))
	r.GET(c.path("/admin/users/:id"), c.page(c.user))
	r.POST(c.path("/admin/users/:id/:action"), c.session(c.userAction))
	r.GET(c.path("/admin/accounts"), c.page(c.accounts))
	r.POST(c.path("/admin/accounts"), c.session(c.createAccount))
	r.POST(c.path("/admin/accounts/:id/:action"), c.session(c.accountAction))
	r.GET(c.path("/admin/clients"), c.page(c.clients))
	r.POST(c.path("/admin/clients"), c.session(c.createClient))
	r.GET(c.path("/admin/new-client"), c.page(c.newClient))
	r.GET(c.path("/admin/clients/:id"), c.page(c.client))
	r.POST(c.path("/admin/clients/:id/:action"), c.session(c.clientAction))
	r.GET(c.path("/admin/connectors"), c.page(c.connectors))
	r.POST(c.path("/admin/connectors"), c.session(c.connectorForm))
	r.POST(c.path("/admin/connectors/:id/delete"), c.session(c.deleteConnector))
	r.GET(c.path("/admin/keys"), c.page(c.keys))
	r.POST(c.path("/admin/keys/rotate"), c.session(c.rotateKeys))
	r.GET(c.path("/admin/audit"), c.page(c.auditLog))
	r.GET(c.path("/admin/audit.csv"), c.session(c.auditCSV))
}

// Under reports whether p is one of the console's paths (below /admin/
// but not the API's /admin/v1).
func (c *Console) Under(p string) bool {
	root := c.path("/admin/")
	api := c.path("/admin/v1")
	return strings.HasPrefix(p, root) && p != api && !strings.HasPrefix(p, api+"/")
}

func (c *Console) path(rel string) string { return strings.TrimSuffix(c.issuer.Path, "/") + rel }

func (c *Console) url(rel string) string { return strings.TrimSuffix(c.opts.Issuer, "/") + rel }

func serveCSS(g *gin.Context) {
	g.Header("Cache-Control", "public, max-age=3600")
	g.Data(http.StatusOK, "text/css; charset=utf-8", consoleCSS)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
