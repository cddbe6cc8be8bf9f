package console_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portico-idp/portico/broker/ui"
)

// TestCatalogue: every message id the console's templates and code name
// is in the catalogue, so no page shows a bare id. Ids made at run time
// (console.done.<key>, console.confirm.<what>.<action>) are listed from
// the code's own lists below.
func TestCatalogue(t *testing.T) {
	pages, err := ui.New(ui.Theme{}, "https://id.example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	re := regexp.MustCompile(`"(console\.[A-Za-z0-9_.-]*[A-Za-z0-9_])"`)
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") || !(strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".html")) {
			return err
		}
		b, err := os.ReadFile(path)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			ids[m[1]] = true
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"disabled", "enabled", "sessions_ended", "session_ended", "mfa_reset", "unlinked", "deleted",
		"client_deleted", "client_updated", "account_created", "account_invited", "password_set", "account_deleted", "keys_rotated",
		"connector_added", "connector_deleted"} {
		ids["console.done."+k] = true
	}
	for _, a := range []string{"disable", "enable", "end-sessions", "end-session", "reset-mfa", "unlink", "delete"} {
		ids["console.confirm.user."+a] = true
	}
	for _, id := range []string{"console.confirm.client.rotate", "console.confirm.client.delete", "console.confirm.account.password",
		"console.confirm.account.delete", "console.loginFailed.title", "console.loginExpired.title", "console.sessionEnded.title",
		"console.csrf.title", "console.loggedOut.title", "console.unavailable.title", "console.notFound.title",
		"console.forbidden.title", "console.refused.title"} {
		ids[id] = true
	}
	if len(ids) < 100 {
		t.Fatalf("found only %d ids: the scan is broken", len(ids))
	}
	for id := range ids {
		if strings.HasSuffix(id, ".") {
			continue // a prefix the code completes
		}
		if pages.Text(id) == id {
			t.Errorf("%s is not in the catalogue", id)
		}
	}
}
