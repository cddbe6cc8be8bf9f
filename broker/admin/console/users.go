package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store"
)

type identityView struct {
	ConnectorID string    `json:"connector_id"`
	Subject     string    `json:"subject"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	LastSeen    time.Time `json:"last_seen"`
}

type sessionView struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	ConnectorID string    `json:"connector_id"`
	AuthTime    time.Time `json:"auth_time"`
	RotatedAt   time.Time `json:"rotated_at"`
	Expiry      time.Time `json:"expiry"`
	Revoked     bool      `json:"revoked"`
}

func (c *Console) users(g *gin.Context, s *sess) {
	q := url.Values{"limit": {"100"}}
	if v := g.Query("q"); v != "" {
		q.Set("q", v)
	}
	if v := g.Query("cursor"); v != "" {
		q.Set("cursor", v)
	}
	var out struct {
		Users []store.User `json:"users"`
		Next  string       `json:"next_cursor"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/users?"+q.Encode(), nil, &out); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "users", c.t(g, "console.users"), map[string]any{"Users": out.Users, "Next": out.Next, "Q": g.Query("q")})
}

func (c *Console) user(g *gin.Context, s *sess) {
	id := url.PathEscape(g.Param("id"))
	var u store.User
	if st, e := c.api(g, s, http.MethodGet, "/users/"+id, nil, &u); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	var ids struct {
		Identities []identityView `json:"identities"`
	}
	var ss struct {
		Sessions []sessionView `json:"sessions"`
	}
	if st, e := c.api(g, s, http.MethodGet, "/users/"+id+"/identities", nil, &ids); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	if st, e := c.api(g, s, http.MethodGet, "/users/"+id+"/sessions", nil, &ss); st != http.StatusOK {
		c.apiFailed(g, s, st, e)
		return
	}
	c.render(g, s, http.StatusOK, "user", c.t(g, "console.user"), map[string]any{
		"User": u, "Identities": ids.Identities, "Sessions": ss.Sessions})
}

// userAction does one thing to a user, after a page that says what will
// happen and asks to confirm.
func (c *Console) userAction(g *gin.Context, s *sess) {
	id := g.Param("id")
	back := c.path("/admin/users/" + url.PathEscape(id))
	base := "/users/" + url.PathEscape(id)
	var method, path, done string
	var body any
	fresh := false
	args := []any{id}
	switch g.Param("action") {
	case "disable", "enable":
		method, path, done = http.MethodPatch, base, g.Param("action")+"d"
		body = map[string]any{"disabled": g.Param("action") == "disable"}
	case "end-sessions":
		method, path, done = http.MethodDelete, base+"/sessions", "sessions_ended"
	case "end-session":
		sid := g.PostForm("session")
		method, path, done = http.MethodDelete, base+"/sessions/"+url.PathEscape(sid), "session_ended"
		args = append(args, sid)
	case "reset-mfa":
		method, path, done, fresh = http.MethodDelete, base+"/mfa", "mfa_reset", true
	case "unlink":
		cn, sub := g.PostForm("connector"), g.PostForm("subject")
		method, path, done = http.MethodDelete, base+"/identities/"+url.PathEscape(cn)+"/"+url.PathEscape(sub), "unlinked"
		args = append(args, cn, sub)
	case "delete":
		method, path, done, fresh = http.MethodDelete, base, "deleted", true
		back = c.path("/admin/users")
	default:
		c.message(g, http.StatusNotFound, "console.notFound", "")
		return
	}
	if fresh && !c.fresh(g, s, c.path("/admin/users/"+url.PathEscape(id))) {
		return
	}
	if g.PostForm("confirm") != "yes" {
		// The confirmation names the user as the store has it.
		var u store.User
		if st, e := c.api(g, s, http.MethodGet, base, nil, &u); st != http.StatusOK {
			c.apiFailed(g, s, st, e)
			return
		}
		args[0] = cmp.Or(u.Username, u.Email, u.ID)
		c.confirm(g, s, "console.confirm.user."+g.Param("action"), args, g.Request.URL.Path)
		return
	}
	if st, e := c.api(g, s, method, path, body, nil); st >= 300 {
		c.apiFailed(g, s, st, e)
		return
	}
	c.done(g, back, done)
}

// confirm shows what an action will do, with the form that does it.
func (c *Console) confirm(g *gin.Context, s *sess, id string, args []any, action string) {
	fields := map[string]string{}
	for k, v := range g.Request.PostForm {
		if k != "csrf" && k != "confirm" && len(v) > 0 {
			fields[k] = v[0]
		}
	}
	c.render(g, s, http.StatusOK, "confirm", c.t(g, "console.confirm.title"), map[string]any{
		"Message": fmt.Sprintf(c.t(g, id), args...), "Action": action, "Fields": fields})
}
