package console

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/portico-idp/portico/broker/store"
)

// TestLocalPath: the page a login returns to is one of the console's,
// never another site's or the API's.
func TestLocalPath(t *testing.T) {
	c := &Console{}
	var err error
	if c.issuer, err = url.Parse("https://id.example.com/portico"); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{
		"/portico/admin/":                true,
		"/portico/admin/users/u1?done=x": true,
		"/portico/admin/v1/keys":         false,
		"/portico/admin/v1":              false,
		"/admin/":                        false,
		"//evil.example/portico/admin/":  false,
		"https://evil.example/":          false,
		"/portico/admin/\\evil":          false,
		"/portico/admin/\r\nX: y":        false,
		"":                               false,
		"/portico/admin/../authorize":    false,
		"/portico/admin/%2e%2e/login":    false,
		"/portico/admin/./users":         false,
		"/portico/admin/\tx":             false,
		"/portico/admin/users?q=a/../b":  true, // the query is the page's own
	} {
		if got := c.localPath(p); got != want {
			t.Errorf("localPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestHourly: events fall in the hour they happened, the last bar is the
// last hour, and events older than a day or of other types are left out.
func TestHourly(t *testing.T) {
	c := &Console{text: func(_, id string) string { return id }, langs: []string{"en"}}
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	evs := []store.AuditEvent{
		{Type: "login.success", Time: now.Add(-time.Minute)},
		{Type: "login.success", Time: now.Add(-59 * time.Minute)},
		{Type: "login.failure", Time: now.Add(-90 * time.Minute)},
		{Type: "login.success", Time: now.Add(-25 * time.Hour)},
		{Type: "token.issue", Time: now.Add(-time.Minute)},
		{Type: "login.success", Time: now.Add(time.Minute)}, // from the future: a replica's clock
	}
	ch := c.hourly(nil, evs, now, "x", "login.success", "login.failure")
	if s := ch.Series[0]; s.Hour != 2 || s.Day != 2 {
		t.Errorf("successes: %+v, want 2 in the hour and the day", s)
	}
	if s := ch.Series[1]; s.Hour != 0 || s.Day != 1 {
		t.Errorf("failures: %+v, want 0 in the hour, 1 in the day", s)
	}
	if len(ch.Bars) != 2 || ch.Bars[0].X <= ch.Bars[1].X {
		t.Errorf("bars %+v: want the last hour's to the right of the hour before's", ch.Bars)
	}
}

// TestDoneNote: the note after an action comes from the cookie the action
// set, read once, and only from the catalogue: ?done= in a link, or an
// unknown key, shows nothing.
func TestDoneNote(t *testing.T) {
	c := testConsole(t, time.Now)
	for _, tc := range []struct {
		query, cookie, want string
	}{
		{"", "keys_rotated", "The signing keys are rotated."},
		{"?done=keys_rotated", "", ""},
		{"", "Call 555-0100 to fix", ""},
	} {
		w := httptest.NewRecorder()
		g, _ := gin.CreateTestContext(w)
		g.Request = httptest.NewRequest(http.MethodGet, "/admin/keys"+tc.query, nil)
		if tc.cookie != "" {
			g.Request.AddCookie(&http.Cookie{Name: doneCookie, Value: tc.cookie})
		}
		c.render(g, nil, http.StatusOK, "message", "t", map[string]any{"Message": "m"})
		body := w.Body.String()
		switch {
		case tc.want != "" && !strings.Contains(body, tc.want):
			t.Errorf("%+v: note %q missing", tc, tc.want)
		case tc.want == "" && (strings.Contains(body, "rotated") || strings.Contains(body, "555")):
			t.Errorf("%+v: a note the action did not set is on the page", tc)
		}
		if tc.cookie != "" && !strings.Contains(w.Header().Get("Set-Cookie"), doneCookie+"=;") {
			t.Errorf("%+v: the note's cookie is not cleared: %q", tc, w.Header().Get("Set-Cookie"))
		}
	}
}

// TestFresh: an action that changes security needs a login younger than
// FreshLogin; an older one goes to the login, back to the page.
func TestFresh(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	c := testConsole(t, func() time.Time { return now })
	for age, want := range map[time.Duration]bool{time.Minute: true, 10 * time.Minute: true, 11 * time.Minute: false} {
		w := httptest.NewRecorder()
		g, _ := gin.CreateTestContext(w)
		g.Request = httptest.NewRequest(http.MethodPost, "/admin/keys/rotate", nil)
		s := &sess{sessionState: sessionState{AuthTime: now.Add(-age)}}
		if got := c.fresh(g, s, "/admin/keys"); got != want {
			t.Errorf("login %v old: fresh %v, want %v", age, got, want)
		}
		if !want && w.Header().Get("Location") != "/admin/login?return=%2Fadmin%2Fkeys" {
			t.Errorf("login %v old: sent to %q", age, w.Header().Get("Location"))
		}
	}
}

func testConsole(t *testing.T, now func() time.Time) *Console {
	t.Helper()
	text := func(_, id string) string {
		if id == "console.done.keys_rotated" {
			return "The signing keys are rotated."
		}
		return id
	}
	c, err := New(Options{Issuer: "https://id.example.com", Now: now}, Deps{Text: text, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
