package console

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	if c.issuer, err = parseURL("https://id.example.com/portico"); err != nil {
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
	} {
		if got := c.localPath(p); got != want {
			t.Errorf("localPath(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestHourly: events fall in the hour they happened, the last bar is the
// last hour, and events older than a day or of other types are left out.
func TestHourly(t *testing.T) {
	c := &Console{text: func(id string) string { return id }}
	now := time.Date(2026, 12, 7, 12, 30, 0, 0, time.UTC)
	evs := []store.AuditEvent{
		{Type: "login.success", Time: now.Add(-time.Minute)},
		{Type: "login.success", Time: now.Add(-59 * time.Minute)},
		{Type: "login.failure", Time: now.Add(-90 * time.Minute)},
		{Type: "login.success", Time: now.Add(-25 * time.Hour)},
		{Type: "token.issue", Time: now.Add(-time.Minute)},
		{Type: "login.success", Time: now.Add(time.Minute)}, // from the future: a replica's clock
	}
	ch := c.hourly(evs, now, "x", "login.success", "login.failure")
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

// TestDoneNote: the note after an action is the catalogue's; an unknown
// ?done= shows nothing, so a link cannot put its own words on a page.
func TestDoneNote(t *testing.T) {
	text := func(id string) string {
		if id == "console.done.keys_rotated" {
			return "The signing keys are rotated."
		}
		return id
	}
	c, err := New(Options{Issuer: "https://id.example.com"}, Deps{Text: text, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{
		"keys_rotated":               "The signing keys are rotated.",
		"Call%20555-0100%20to%20fix": "",
	} {
		w := httptest.NewRecorder()
		g, _ := gin.CreateTestContext(w)
		g.Request = httptest.NewRequest(http.MethodGet, "/admin/keys?done="+q, nil)
		c.render(g, nil, http.StatusOK, "message", "t", map[string]any{"Message": "m"})
		body := w.Body.String()
		switch {
		case want != "" && !strings.Contains(body, want):
			t.Errorf("done=%s: note %q missing", q, want)
		case want == "" && strings.Contains(body, "555"):
			t.Errorf("done=%s: the query's words are on the page", q)
		}
	}
}
