package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
)

// clientView is a client as the admin API shows it, the fields the
// console shows and edits.
type clientView struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	Public       bool     `json:"public"`
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	GrantTypes   []string `json:"grant_types,omitempty"`
	Scopes       []string `json:"scopes,omitempty"`
	Consent      bool     `json:"consent,omitempty"`
	TokenFormat  string   `json:"token_format,omitempty"`
	HasSecret    bool     `json:"has_secret"`
	ManagedBy    string   `json:"managed_by,omitempty"`
	Secret       string   `json:"client_secret,omitempty"`
}

func (c *Console) clients(g *gin.Context, s *sess) {
	var out struct {
		Clients []clientView `json:"clients"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/clients", nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "clients", c.t(g, "console.clients"), map[string]any{"Clients": out.Clients})
}

func (c *Console) client(g *gin.Context, s *sess) {
	var cl clientView
	if st, e := c.api(g, s, http.MethodGet, "/clients/"+url.PathEscape(g.Param("id")), nil, &cl); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "client", c.t(g, "console.client"), map[string]any{"Client": cl, "Grants": grantTypes})
}

// lines splits a text area into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// createClient makes a client from the form; a confidential client's
// secret is shown on the page that follows, once.
func (c *Console) createClient(g *gin.Context, s *sess) {
	if !c.fresh(g, s, c.path("/admin/clients")) {
		return
	}
	in := map[string]any{
		"name": g.PostForm("name"), "public": g.PostForm("public") == "yes",
		"redirect_uris": lines(g.PostForm("redirect_uris")),
		"grant_types":   []string{"authorization_code", "refresh_token"},
		"scopes":        []string{"openid", "profile", "email", "groups", "offline_access"},
		"consent":       g.PostForm("consent") == "yes",
	}
	if id := strings.TrimSpace(g.PostForm("id")); id != "" {
		in["id"] = id
	}
	var cl clientView
	st, e := c.api(g, s, http.MethodPost, "/clients", in, &cl)
	if st >= 300 {
		// The redirect URIs' rules are the API's: its message names the
		// field; the form comes back filled.
		c.render(g, s, st, "clients_new", c.t(g, "console.clients.new"), map[string]any{"Error": e.String(), "Form": g.Request.PostForm})
		return
	}
	c.render(g, s, http.StatusCreated, "secret", c.t(g, "console.client.created"), map[string]any{"Client": cl})
}

// newClient is the creation form.
func (c *Console) newClient(g *gin.Context, s *sess) {
	c.render(g, s, http.StatusOK, "clients_new", c.t(g, "console.clients.new"), nil)
}

func (c *Console) clientAction(g *gin.Context, s *sess) {
	id := g.Param("id")
	back := c.path("/admin/clients/" + url.PathEscape(id))
	if g.Param("action") == "edit" {
		c.editClient(g, s, id)
		return
	}
	if !slices.Contains([]string{"rotate", "delete"}, g.Param("action")) {
		c.message(g, http.StatusNotFound, "console.notFound", "")
		return
	}
	if !c.fresh(g, s, back) {
		return
	}
	if g.PostForm("confirm") != "yes" {
		c.confirm(g, s, "console.confirm.client."+g.Param("action"), []any{id}, g.Request.URL.Path)
		return
	}
	path := "/clients/" + url.PathEscape(id)
	if g.Param("action") == "delete" {
		if st, e := c.api(g, s, http.MethodDelete, path, nil, nil); st >= 300 {
			c.apiFailed(g, s, st, e)
			return
		}
		c.done(g, c.path("/admin/clients"), "client_deleted")
		return
	}
	var cl clientView
	if st, e := c.api(g, s, http.MethodPost, path+"/secret", nil, &cl); st >= 300 {
		c.apiFailed(g, s, st, e)
		return
	}
	cl.ID = id
	c.render(g, s, http.StatusOK, "secret", c.t(g, "console.client.rotated"), map[string]any{"Client": cl})
}

// grantTypes are the grant types the edit form offers.
var grantTypes = []string{"authorization_code", "refresh_token", "client_credentials",
	"urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:token-exchange"}

// editClient changes the settings the form has and keeps the others: the
// client as the API gives it, with the form's fields replaced, goes back
// whole (PUT replaces a client's settings).
func (c *Console) editClient(g *gin.Context, s *sess, id string) {
	back := c.path("/admin/clients/" + url.PathEscape(id))
	if !c.fresh(g, s, back) {
		return
	}
	path := "/clients/" + url.PathEscape(id)
	var cl map[string]any
	if st, e := c.api(g, s, http.MethodGet, path, nil, &cl); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	for _, k := range []string{"has_secret", "version", "resource_uris", "managed_by"} {
		delete(cl, k) // output only
	}
	var grants []string
	for _, gt := range g.PostFormArray("grant_types") {
		if slices.Contains(grantTypes, gt) {
			grants = append(grants, gt)
		}
	}
	cl["name"] = g.PostForm("name")
	cl["redirect_uris"] = lines(g.PostForm("redirect_uris"))
	cl["grant_types"] = grants
	cl["scopes"] = strings.Fields(g.PostForm("scopes"))
	cl["consent"] = g.PostForm("consent") == "yes"
	cl["token_format"] = g.PostForm("token_format")
	if st, e := c.api(g, s, http.MethodPut, path, cl, nil); st >= 300 {
		var view clientView
		c.api(g, s, http.MethodGet, path, nil, &view)
		c.render(g, s, st, "client", c.t(g, "console.client"), map[string]any{"Client": view, "Grants": grantTypes, "Error": e.String()})
		return
	}
	c.done(g, back, "client_updated")
}
