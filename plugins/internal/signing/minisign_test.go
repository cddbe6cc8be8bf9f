package signing_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/portico-idp/portico/plugins/internal/signing"
)

// needMinisign returns the minisign tool's path, or skips (fails under
// CI=true, where a skip would pass silently; make deps installs it).
func needMinisign(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("minisign")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("minisign not on PATH under CI=true (apt-get install minisign): %v", err)
		}
		t.Skipf("SKIPPED: minisign not on PATH (apt-get install minisign): interoperability with the minisign tool not checked")
	}
	return p
}

// TestMinisignTool: keys and signatures the minisign tool makes, prehashed
// (its default) or of the whole file (-l), verify here; a file changed
// after signing does not.
func TestMinisignTool(t *testing.T) {
	ms := needMinisign(t)
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(ms, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("minisign %v: %v\n%s", args, err, out)
		}
	}
	run("-G", "-W", "-p", "pub", "-s", "key")
	keys, err := signing.ParseKeys(nil, filepath.Join(dir, "pub"), "publisher_keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{{"prehashed", nil}, {"legacy", []string{"-l"}}} {
		t.Run(tt.name, func(t *testing.T) {
			art := filepath.Join(dir, tt.name)
			os.WriteFile(art, []byte("a module "+tt.name), 0o644)
			run(append([]string{"-S", "-s", "key", "-m", tt.name}, tt.args...)...)
			if _, err := keys.VerifyFile(art, ""); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(art, []byte("a module, changed"), 0o644)
			if _, err := keys.VerifyFile(art, ""); err == nil {
				t.Error("a changed file verified")
			}
		})
	}
}
