package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

// Factory builds a connector from its config block: the function a
// connector's main hands to plugin.Serve and wasm.Handle.
type Factory = func(ctx context.Context, config json.RawMessage, log *slog.Logger) (any, error)

// Account is one account the store under test holds.
type Account struct {
	Username, Password string
	// Want is what a login as this account must return. Every field set
	// is compared byte for byte (Groups as a set, in any order); Subject,
	// if empty, must only be non-empty and stable.
	Want sdk.Identity
}

// UnicodeAccount is an account with a username, a display name, groups
// and a password outside ASCII (composed and combining forms, CJK, an
// emoji, a right-to-left script). Seed it in the store as it is (its
// Subject is for the store to choose) and name it in Suite.Unicode.
var UnicodeAccount = Account{
	Username: "zoë.ærøskøbing",
	Password: "pässwörd-Ω-🔑-密码",
	Want: sdk.Identity{
		Username: "zoë.ærøskøbing",
		Name:     "Zoë Ærøskøbing-Ünal 李小龍 (זואי)",
		Groups:   []string{"développeurs", "管理者", "👩‍💻 on-call", "e\u0301quipe"},
	},
}

// Suite describes a connector and the store it is tested against.
type Suite struct {
	// Factory builds the connector in process.
	Factory Factory
	// Package is the directory of the connector's main package, whose
	// main serves Factory with plugin.Serve natively and registers it
	// with wasm.Handle under GOOS=wasip1. It is built as a process
	// plugin and as a WASM module. Empty: only the in-process form runs.
	Package string
	// Config is the connector's config block, pointing it at the store.
	Config json.RawMessage

	// User is an ordinary account in the store; Unicode an account like
	// UnicodeAccount. Both are required.
	User, Unicode Account

	// Outage makes the store unreachable (a stopped server, a closed
	// port, a 503) until restore is called. Required, since answering
	// sdk.ErrUnavailable when the store is down is a rule; a connector
	// with no store at all (accounts in its config) sets NoStore instead.
	Outage func(t testing.TB) (restore func())
	// Stall makes the store accept requests and never answer them, and
	// sends on arrived when one came, until restore is called. Optional:
	// with it the kit cancels a login stuck in the store and checks
	// that it returns; without it, it only checks a context cancelled
	// before the call.
	Stall func(t testing.TB) (arrived <-chan struct{}, restore func())
	// Remove deletes an account from the store until restore is called.
	// Optional: with it the kit checks that Refresh says sdk.ErrUserGone.
	Remove func(t testing.TB, a Account) (restore func())
	// NoStore, when not empty, says why the connector has no store to
	// break (its accounts are in its config): Outage is then not
	// required and the outage rules are skipped with this reason.
	NoStore string

	// Limits bound every identity; zero fields take DefaultLimits'.
	Limits Limits
	// Forms to run; nil means all three (InProcess only without
	// Package).
	Forms []Form
}

// Form is how the connector under test runs.
type Form string

// The forms.
const (
	InProcess Form = "in-process"
	Process   Form = "process-plugin"
	WASM      Form = "wasm-module"
)

// Run runs every rule against each form of the connector, as subtests
// named after the form and the rule (TestX/wasm-module/unicode).
func Run(t *testing.T, s Suite) {
	t.Helper()
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	if s.Factory != nil {
		t.Run("bad-config", func(t *testing.T) {
			if err := CheckFactory(t.Context(), s.Factory); err != nil {
				t.Errorf("%v\n(rule: %s)", err, ruleBadConfig)
			}
		})
	}
	for _, f := range s.forms() {
		t.Run(string(f), func(t *testing.T) {
			c := Start(t, s, f)
			for _, r := range Rules {
				t.Run(r.Name, func(t *testing.T) {
					if r.skip != nil {
						if why := r.skip(c, s); why != "" {
							t.Skip(why)
						}
					}
					if err := r.Check(t, c, s); err != nil {
						t.Errorf("%s: %v\n(rule: %s)", f, err, r.Rule)
					}
				})
			}
		})
	}
}

func (s Suite) forms() []Form {
	if s.Forms != nil {
		return s.Forms
	}
	if s.Package == "" {
		return []Form{InProcess}
	}
	return []Form{InProcess, Process, WASM}
}

func (s Suite) validate() error {
	var errs []error
	if s.Factory == nil && s.Package == "" {
		errs = append(errs, errors.New("Suite.Factory or Suite.Package is required"))
	}
	for _, a := range []struct {
		name string
		a    Account
	}{{"User", s.User}, {"Unicode", s.Unicode}} {
		if a.a.Username == "" || a.a.Password == "" {
			errs = append(errs, fmt.Errorf("Suite.%s needs a username and a password", a.name))
		}
	}
	if !nonASCII(s.Unicode.Username) || !nonASCII(s.Unicode.Password) || !nonASCII(s.Unicode.Want.Name) || !anyNonASCII(s.Unicode.Want.Groups) {
		errs = append(errs, errors.New("Suite.Unicode needs a username, a password, a Want.Name and Want.Groups outside ASCII (seed connectortest.UnicodeAccount)"))
	}
	if s.Outage == nil && s.NoStore == "" {
		errs = append(errs, errors.New("Suite.Outage is required (or Suite.NoStore with the reason there is no store to break): a connector must answer sdk.ErrUnavailable when its store is down"))
	}
	for _, f := range s.Forms {
		if f != InProcess && f != Process && f != WASM {
			errs = append(errs, fmt.Errorf("Suite.Forms: unknown form %q", f))
		} else if f != InProcess && s.Package == "" {
			errs = append(errs, fmt.Errorf("Suite.Forms: %s needs Suite.Package", f))
		}
		if f == InProcess && s.Factory == nil {
			errs = append(errs, errors.New("Suite.Forms: in-process needs Suite.Factory"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("connectortest: %w", err)
	}
	return nil
}

func nonASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func anyNonASCII(ss []string) bool {
	for _, s := range ss {
		if nonASCII(s) {
			return true
		}
	}
	return false
}

const ruleBadConfig = "a config block that is not a JSON object, or holds an unknown field, is an error from the factory, never a panic or a connector"

// badConfigs are config blocks no connector can take.
// (An absent block is fine: a connector may need no config.)
var badConfigs = []string{`not json`, `[]`, `"a string"`, `42`, `{"connectortest_unknown_field": true}`, `{`, "{\"a\":\"\xff\"}"}

// CheckFactory calls factory with config blocks no connector can take
// (not JSON, not an object, an unknown field) and reports one it accepts
// or panics on. A connector's config is an operator's typo away from any
// of them: it must be refused at start with a message, as the sdk/upstream
// helpers (DecodeStrict) do.
func CheckFactory(ctx context.Context, factory Factory) (err error) {
	log := slog.New(slog.DiscardHandler)
	for _, raw := range badConfigs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("the factory panicked on the config %q: %v", raw, r)
				}
			}()
			if c, ferr := factory(ctx, json.RawMessage(raw), log); ferr == nil && err == nil {
				err = fmt.Errorf("the factory accepted the config %q (and built a %T)", raw, c)
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// Start builds form f of the connector and returns it configured; it is
// stopped when t ends. Run calls it; a test of its own can too.
func Start(t *testing.T, s Suite, f Form) any {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(newTestWriter(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
	var (
		c   any
		err error
	)
	switch f {
	case InProcess:
		if s.Factory == nil {
			t.Fatal("connectortest: the in-process form needs Suite.Factory")
		}
		c, err = s.Factory(ctx, s.Config, log)
	case Process:
		c, err = startProcess(t, build(t, s.Package, false), s.Config)
	case WASM:
		c, err = startWASM(t, s.Package, build(t, s.Package, true), s.Config, log)
	default:
		t.Fatalf("connectortest: unknown form %q", f)
	}
	if err != nil {
		t.Fatalf("connectortest: start the %s: %v", f, err)
	}
	if _, ok := c.(sdk.PasswordConnector); !ok {
		t.Fatalf("connectortest: the %s is not an sdk.PasswordConnector (%T): the kit tests password connectors", f, c)
	}
	return c
}

// needGo skips a built form without the go command, or fails under
// CI=true, where a skip would pass silently.
func needGo(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("connectortest: go not on PATH under CI=true: the built forms cannot be tested: %v", err)
		}
		t.Skipf("connectortest: go not on PATH, built forms NOT TESTED: %v", err)
	}
	return goCmd
}

// testWriter sends the connector's log lines to t.Log while t runs, and
// drops them after (t.Log then panics; a plugin may log while it stops).
type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTestWriter(t testing.TB) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
