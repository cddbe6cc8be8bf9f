package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeRel is where `make deps` installs axe-core, from the repository root.
const axeRel = "testenv/browser/node/node_modules/axe-core/axe.min.js"

// Violation is one axe-core rule that the page breaks.
type Violation struct {
	ID      string   // the rule, such as "image-alt" or "label"
	Impact  string   // "minor", "moderate", "serious" or "critical"
	Help    string   // what the rule asks for, in one line
	HelpURL string   // the rule's documentation
	Targets []string // CSS selectors of the elements that break it
}

func (v Violation) String() string {
	return fmt.Sprintf("%s (%s): %s [%s] %s", v.ID, v.Impact, v.Help, strings.Join(v.Targets, ", "), v.HelpURL)
}

// Serious reports whether the violation's impact is serious or critical:
// it keeps someone from using the page.
func (v Violation) Serious() bool { return v.Impact == "serious" || v.Impact == "critical" }

// A11y runs axe-core's default rules (WCAG 2.x A and AA and best
// practices) on the page the tab shows and returns the violations, all
// impacts. It loads axe-core into the page first if needed.
func (b *Browser) A11y(ctx context.Context) ([]Violation, error) {
	path, err := axePath()
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("browser: reading axe-core: %w", err)
	}
	// Through DevTools, not a <script>: the page's CSP does not apply.
	return run(ctx, b, "run axe-core", func(ctx context.Context, t *chromedp.Target) ([]Violation, error) {
		loaded, err := chromedp.Evaluate[bool](`typeof window.axe === "object"`)(ctx, t)
		if err != nil {
			return nil, err
		}
		if !loaded {
			if _, err := chromedp.Evaluate[chromedp.Void](string(src))(ctx, t); err != nil {
				return nil, fmt.Errorf("loading axe-core: %w", err)
			}
		}
		return chromedp.Evaluate[[]Violation](axeRun, chromedp.EvalAwaitPromise)(ctx, t)
	})
}

// axeRun runs axe on the document and keeps, of each violation, what a
// failing test prints. A node's target is a list of selectors (several
// when the node is inside a shadow root or an iframe).
const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
	ID: v.id, Impact: v.impact || "", Help: v.help, HelpURL: v.helpUrl,
	Targets: v.nodes.map(n => [n.target].flat(Infinity).join(" >> ")),
})))`

// CheckA11y runs A11y and fails the test, without stopping it, for each
// serious or critical violation, with its rule, help and elements; lesser
// ones are logged. Without axe-core the test is skipped, or fails if
// CI=true.
func (b *Browser) CheckA11y(t testing.TB) {
	t.Helper()
	if _, err := axePath(); err != nil {
		require(t, "ACCESSIBILITY NOT CHECKED: "+err.Error())
	}
	vs, err := b.A11y(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := b.URL(t.Context())
	var bad []string
	for _, v := range vs {
		if v.Serious() {
			bad = append(bad, v.String())
		} else {
			t.Logf("accessibility on %s, not failing: %s", u, v)
		}
	}
	if len(bad) > 0 {
		t.Errorf("accessibility: %d serious or critical axe-core violations on %s:\n\t%s", len(bad), u, strings.Join(bad, "\n\t"))
	}
}

// axePath finds axe.min.js: PORTICO_AXE_JS if set, else where `make deps`
// installs it, found from this source file or, in a -trimpath build, from
// the working directory up.
func axePath() (string, error) {
	if p := os.Getenv("PORTICO_AXE_JS"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("axe-core: PORTICO_AXE_JS: %w", err)
		}
		return p, nil
	}
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		p := filepath.Join(filepath.Dir(file), "node", "node_modules", "axe-core", "axe.min.js")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			p := filepath.Join(dir, filepath.FromSlash(axeRel))
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				tried = append(tried, p)
				break // the module root: no further up
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("axe-core not found (tried " + strings.Join(tried, ", ") +
		"). Run `make deps` (npm install axe-core into testenv/browser/node) or set PORTICO_AXE_JS.")
}
