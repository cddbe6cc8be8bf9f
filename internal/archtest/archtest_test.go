package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/portico-idp/portico"

// needGo skips without the go command, except under CI=true, where a
// skipped rule check would pass silently.
func needGo(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go not on PATH under CI=true: the dependency rules cannot be checked: %v", err)
		}
		t.Skipf("go not on PATH, dependency rules not checked: %v", err)
	}
}

// TestDependencyRules checks Portico's own packages against the rules.
func TestDependencyRules(t *testing.T) {
	needGo(t)
	root := filepath.Join("..", "..")
	pkgs, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	// The sdk is its own module, which `go list ./...` from the root does
	// not enter; its packages keep their import paths under module.
	sdkPkgs, err := List(filepath.Join(root, "sdk"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs = append(pkgs, sdkPkgs...)
	seen := map[string]bool{}
	for _, p := range pkgs {
		seen[strings.TrimPrefix(p.ImportPath, module+"/")] = true
	}
	// Guard against a vacuous pass (wrong directory, wrong module path).
	for _, want := range []string{"sdk", "sdk/wire", "sdk/plugin", "sdk/connectortest", "sdk/examples/fileusers", "tokensvc", "connectors/local", "plugins/wasm", "testenv", "broker",
		"broker/protocol", "broker/journey", "broker/admin", "broker/scim", "broker/core", "broker/identity"} {
		if !seen[want] {
			t.Fatalf("go list did not report %s/%s: the rules would check nothing", module, want)
		}
	}
	for exempt := range TestenvExempt {
		if !seen[exempt] {
			t.Errorf("TestenvExempt names %s, which is not a package any more: remove it", exempt)
		}
	}
	for _, v := range Check(module, pkgs) {
		t.Error(v)
	}
}

// TestDependencyRulesCatchViolations runs the same check over a fixture
// module (testdata/fixture) that breaks each rule once, and shows that
// test-only imports are held only to the sdk rule, and that a subject may
// import a shared package (broker/journey imports broker/core).
func TestDependencyRulesCatchViolations(t *testing.T) {
	needGo(t)
	const m = "example.com/portico"
	pkgs, err := List(filepath.Join("testdata", "fixture"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range Check(m, pkgs) {
		got = append(got, v.String())
	}
	want := []string{
		m + "/broker imports " + m + "/testenv: breaks rule \"" + RuleTestenv + "\"",
		m + "/broker/admin imports " + m + "/broker: breaks rule \"" + RuleSubjects + "\"",
		m + "/broker/core imports " + m + "/broker/admin: breaks rule \"" + RuleShared + "\"",
		m + "/broker/protocol imports " + m + "/broker/journey: breaks rule \"" + RuleSubjects + "\"",
		m + "/connectors/bad imports " + m + "/broker: breaks rule \"" + RulePluggable + "\"",
		m + "/sdk imports " + m + "/testenv: breaks rule \"" + RuleSDK + "\"",
		m + "/sdk/examples/bad imports " + m + "/connectors/local: breaks rule \"" + RuleSDK + "\"",
		m + "/sdk/wire imports golang.org/x/oauth2: breaks rule \"" + RuleContract + "\"",
		m + "/tokensvc imports " + m + "/connectors/local: breaks rule \"" + RuleTokensvc + "\"",
	}
	if !slices.Equal(got, want) {
		t.Errorf("violations in the fixture:\n got  %s\n want %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}
}
