package main

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
)

// The scaffold's files end in .tmpl so that the root module's tools do
// not read them as its own Go code (or, for go.mod, as a nested module).
//
//go:embed scaffold/*.tmpl
var scaffold embed.FS

const sdkModule = "github.com/portico-idp/portico/sdk"

// depVersion is the version of module path this binary was built with,
// or fallback when it carries no build information: a scaffold requires
// the sdk of the contract its broker speaks, and the x/crypto its broker
// was tested with.
func depVersion(path, fallback string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path && strings.HasPrefix(d.Version, "v") {
				return d.Version
			}
		}
	}
	return fallback
}

var (
	connectorName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	// modulePath is a loose check of a module path: it goes into go.mod
	// and import lines unquoted.
	modulePath = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._~/-]{0,254}$`)
)

// scaffoldParams fill the templates.
type scaffoldParams struct {
	Name, Module, SDKVersion, SDKDir, CryptoVersion string
}

// initConnector writes a connector module named name into dir, which must
// not exist or be empty.
func initConnector(dir string, p scaffoldParams) error {
	if !connectorName.MatchString(p.Name) {
		return fmt.Errorf("connector name %q: use lower-case letters, digits and '-', starting with a letter", p.Name)
	}
	if !modulePath.MatchString(p.Module) || strings.Contains(p.Module, "//") || strings.HasSuffix(p.Module, "/") {
		return fmt.Errorf("module path %q: use a path such as github.com/you/%s", p.Module, p.Name)
	}
	if p.SDKDir != "" {
		abs, err := filepath.Abs(p.SDKDir)
		if err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
			return fmt.Errorf("--sdk %s: not a module directory (no go.mod): %w", p.SDKDir, err)
		}
		p.SDKDir = abs
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s exists and is not empty: choose another directory", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	files, err := fs.Glob(scaffold, "scaffold/*.tmpl")
	if err != nil {
		return err
	}
	// Render everything before writing anything: no half-made module.
	out := map[string][]byte{}
	for _, f := range files {
		src, err := scaffold.ReadFile(f)
		if err != nil {
			return err
		}
		tmpl, err := template.New(f).Delims("[[", "]]").Option("missingkey=error").Parse(string(src))
		if err != nil {
			return fmt.Errorf("scaffold %s: %w", f, err)
		}
		var b bytes.Buffer
		if err := tmpl.Execute(&b, p); err != nil {
			return fmt.Errorf("scaffold %s: %w", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".tmpl")
		if name == "gitignore" { // a dot file is not embedded by a pattern
			name = ".gitignore"
		}
		out[name] = b.Bytes()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, data := range out {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// newConnectorInit is `portico connector init NAME`.
func newConnectorInit() *cobra.Command {
	var p scaffoldParams
	var dir string
	cmd := &cobra.Command{
		Use:   "init NAME",
		Short: "Start a connector module: a password connector, its tests and a Makefile",
		Long: `Writes a Go module for a new password connector into ./NAME (or --dir):
one source that builds as a process plugin and as a WASM module, tests that
run Portico's conformance kit (sdk/connectortest) in all three forms, and a
Makefile. See docs/plugins.md.`,
		Example: "  portico connector init acme-users\n  portico connector init acme-users --module github.com/acme/portico-users",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Name = args[0]
			if p.Module == "" {
				p.Module = "example.com/" + p.Name
			}
			if dir == "" {
				dir = p.Name
			}
			p.SDKVersion = depVersion(sdkModule, "v0.1.0")
			p.CryptoVersion = depVersion("golang.org/x/crypto", "v0.59.0")
			if err := initConnector(dir, p); err != nil {
				return fmt.Errorf("connector init: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Wrote the connector %s (module %s, sdk %s) into %s.\nNext:\n  cd %s\n  go mod tidy\n  make test\n  make\n",
				p.Name, p.Module, p.SDKVersion, dir, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&p.Module, "module", "", "the module path (default example.com/NAME)")
	cmd.Flags().StringVar(&dir, "dir", "", "the directory to write (default ./NAME); must not exist or be empty")
	cmd.Flags().StringVar(&p.SDKDir, "sdk", "", "a local copy of the sdk module to build against (a replace in go.mod), e.g. a Portico checkout's sdk/")
	return cmd
}
