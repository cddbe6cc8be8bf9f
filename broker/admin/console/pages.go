package console

import (
	"encoding/csv"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

// events reads the audit events since since, at most limit.
func (c *Console) events(g *gin.Context, s *sess, since time.Time, limit int) ([]store.AuditEvent, int, apiError) {
	var out struct {
		Events []store.AuditEvent `json:"events"`
	}
	q := url.Values{"since": {since.UTC().Format(time.RFC3339)}, "limit": {strconv.Itoa(limit)}}
	st, e := c.api(g, s, http.MethodGet, "/audit?"+q.Encode(), nil, &out)
	return out.Events, st, e
}

// overview: the last hour and day at a glance, drawn from the audit trail.
func (c *Console) overview(g *gin.Context, s *sess) {
	now := c.opts.Now()
	evs, st, e := c.events(g, s, now.Add(-24*time.Hour), 1000)
	if st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	var cns struct {
		Connectors []struct{ ID, Type, Name string } `json:"connectors"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/connectors", nil, &cns); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "overview", c.t(g, "console.overview"), map[string]any{
		"Charts": []chart{
			c.hourly(g, evs, now, "console.chart.logins", "login.success", "login.failure"),
			c.hourly(g, evs, now, "console.chart.tokens", "token.issue", "token.refresh", "token.revoke"),
		},
		"ByConnector": byConnector(evs, now),
		"Connectors":  cns.Connectors,
		"Truncated":   len(evs) >= 1000,
	})
}

// auditLog lists the events of the last week (or since ?since=), newest
// first, filtered by actor, type, user and client.
func (c *Console) auditLog(g *gin.Context, s *sess) {
	evs, ok := c.filtered(g, s)
	if !ok {
		return
	}
	slices.Reverse(evs)
	c.render(g, s, http.StatusOK, "audit", c.t(g, "console.audit"), map[string]any{
		"Events": evs, "F": g.Request.URL.Query(), "CSV": c.path("/admin/audit.csv") + "?" + g.Request.URL.RawQuery})
}

// filtered reads the events the query asks for.
func (c *Console) filtered(g *gin.Context, s *sess) ([]store.AuditEvent, bool) {
	since := c.opts.Now().Add(-7 * 24 * time.Hour)
	if v := g.Query("since"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			c.render(g, s, http.StatusBadRequest, "message", c.t(g, "console.refused.title"), map[string]any{
				"Message": c.t(g, "console.badDate")})
			return nil, false
		}
		since = t
	}
	evs, st, e := c.events(g, s, since, 1000)
	if st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return nil, false
	}
	match := func(want, have string) bool { return want == "" || strings.Contains(have, want) }
	out := evs[:0]
	for _, ev := range evs {
		if match(g.Query("type"), ev.Type) && match(g.Query("actor"), ev.Actor) &&
			match(g.Query("user"), ev.UserID) && match(g.Query("client"), ev.ClientID) {
			out = append(out, ev)
		}
	}
	return out, true
}

// auditCSV exports what the audit page shows. A value starting with =,
// +, - or @ is prefixed with ' so a spreadsheet does not run it.
func (c *Console) auditCSV(g *gin.Context, s *sess) {
	evs, ok := c.filtered(g, s)
	if !ok {
		return
	}
	g.Header("Content-Type", "text/csv; charset=utf-8")
	g.Header("X-Content-Type-Options", "nosniff")
	g.Header("Content-Disposition", `attachment; filename="portico-audit.csv"`)
	w := csv.NewWriter(g.Writer)
	w.Write([]string{"time", "type", "actor", "user_id", "client_id", "connector_id", "ip", "details"})
	for _, ev := range evs {
		var d []string
		for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
			d = append(d, k+"="+ev.Details[k])
		}
		row := []string{ev.Time.UTC().Format(time.RFC3339), ev.Type, ev.Actor, ev.UserID, ev.ClientID, ev.ConnectorID, ev.IP, strings.Join(d, " ")}
		for i, v := range row {
			if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
				row[i] = "'" + v
			}
		}
		w.Write(row)
	}
	w.Flush()
}

func (c *Console) accounts(g *gin.Context, s *sess) { c.accountsPage(g, s, http.StatusOK, nil) }

// accountsPage lists the accounts above the form for a new one; data
// adds a refusal of that form (Error, Form, PasswordRefused).
func (c *Console) accountsPage(g *gin.Context, s *sess, status int, data map[string]any) {
	var out struct {
		Accounts []store.LocalAccount `json:"accounts"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/accounts", nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	if data == nil {
		data = map[string]any{}
	}
	data["Accounts"] = out.Accounts
	c.render(g, s, status, "accounts", c.t(g, "console.accounts"), data)
}

func (c *Console) createAccount(g *gin.Context, s *sess) {
	in := map[string]any{"username": g.PostForm("username"), "email": g.PostForm("email"),
		"name": g.PostForm("name"), "password": g.PostForm("password")}
	done := "account_created"
	if g.PostForm("invite") == "yes" {
		in["invite"], done = true, "account_invited"
	}
	if st, e := c.api(g, s, http.MethodPost, "/accounts", in, nil); st >= 300 {
		if st != http.StatusBadRequest {
			c.apiFailed(g, s, st, e)
			return
		}
		// The API's rules (the username's, the password policy's) on the
		// form, filled again but for the password, which never travels
		// back into a page.
		form := map[string]string{"username": g.PostForm("username"), "email": g.PostForm("email"), "name": g.PostForm("name")}
		c.accountsPage(g, s, st, map[string]any{"Error": c.refusal(g, e), "Form": form, "PasswordRefused": e.Code == weakPassword})
		return
	}
	c.done(g, c.path("/admin/accounts"), done)
}

// weakPassword is the admin API's error for a password the password
// policy refuses; its description says which rule, in English.
const weakPassword = "weak_password"

// refusal is what a form shows of the API's refusal: for a password, the
// policy's reason after the catalogue's words.
func (c *Console) refusal(g *gin.Context, e apiError) string {
	if e.Code == weakPassword && e.Description != "" {
		return c.t(g, "console.passwordRefused") + " " + e.Description
	}
	return e.String()
}

// accountAction sets an account's password or deletes it: each after a
// page that names the account, with a recent login; the new password is
// typed on that page, so it never travels through another.
func (c *Console) accountAction(g *gin.Context, s *sess) {
	action := g.Param("action")
	if action != "password" && action != "delete" {
		c.message(g, http.StatusNotFound, "console.notFound", "")
		return
	}
	back := c.path("/admin/accounts")
	if !c.fresh(g, s, back) {
		return
	}
	path := "/accounts/" + url.PathEscape(g.Param("id"))
	var acc store.LocalAccount
	if st, e := c.api(g, s, http.MethodGet, path, nil, &acc); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	confirm := func(status int, refused string) {
		c.render(g, s, status, "confirm", c.t(g, "console.confirm.title"), map[string]any{
			"Message": fmt.Sprintf(c.t(g, "console.confirm.account."+action), acc.Username),
			"Action":  g.Request.URL.Path, "Password": action == "password", "PasswordError": refused})
	}
	if g.PostForm("confirm") != "yes" {
		confirm(http.StatusOK, "")
		return
	}
	if action == "password" {
		if st, e := c.api(g, s, http.MethodPut, path+"/password", map[string]any{"password": g.PostForm("password")}, nil); st >= 300 {
			if st == http.StatusBadRequest && e.Code == weakPassword {
				confirm(st, c.refusal(g, e)) // the same page, to type another
				return
			}
			c.apiFailed(g, s, st, e)
			return
		}
		c.done(g, back, "password_set")
		return
	}
	if st, e := c.api(g, s, http.MethodDelete, path, nil, nil); st >= 300 {
		c.apiFailed(g, s, st, e)
		return
	}
	c.done(g, back, "account_deleted")
}

type connectorView struct {
	ID, Type, Name string
	ManagedBy      string `json:"managed_by"`
}

// deleteConnector removes a connector from the login page, after a
// confirmation.
func (c *Console) deleteConnector(g *gin.Context, s *sess) {
	id := g.Param("id")
	if !c.fresh(g, s, c.path("/admin/connectors")) {
		return
	}
	if g.PostForm("confirm") != "yes" {
		c.confirm(g, s, "console.confirm.connector.delete", []any{id}, g.Request.URL.Path)
		return
	}
	if st, e := c.api(g, s, http.MethodDelete, "/connectors/"+url.PathEscape(id), nil, nil); st >= 300 {
		c.apiFailed(g, s, st, e)
		return
	}
	c.done(g, c.path("/admin/connectors"), "connector_deleted")
}

type keyView struct {
	ID         string    `json:"id"`
	Alg        string    `json:"alg"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	ActiveFrom time.Time `json:"active_from"`
	RetiredAt  time.Time `json:"retired_at"`
}

func (c *Console) keys(g *gin.Context, s *sess) {
	var out struct {
		Keys []keyView `json:"keys"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/keys", nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "keys", c.t(g, "console.keys"), map[string]any{"Keys": out.Keys})
}

func (c *Console) rotateKeys(g *gin.Context, s *sess) {
	if !c.fresh(g, s, c.path("/admin/keys")) {
		return
	}
	if g.PostForm("confirm") != "yes" {
		c.confirm(g, s, "console.confirm.keys.rotate", nil, g.Request.URL.Path)
		return
	}
	if st, e := c.api(g, s, http.MethodPost, "/keys/rotate", nil, nil); st >= 300 {
		c.apiFailed(g, s, st, e)
		return
	}
	c.done(g, c.path("/admin/keys"), "keys_rotated")
}
