package archtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// Package is the part of `go list -json` the rules read.
type Package struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Module       *struct{ Path string }
}

// Violation is one forbidden import.
type Violation struct {
	Importer, Imported, Rule string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s imports %s: breaks rule %q", v.Importer, v.Imported, v.Rule)
}

// Rule names, as docs/architecture.md lists them.
const (
	RuleSDK       = "sdk imports nothing of Portico outside sdk/ (examples and tests included)"
	RuleTokensvc  = "tokensvc imports nothing of broker, connectors, plugins, cmd or testenv"
	RulePluggable = "connectors/<name> and plugins/<name> import, of Portico, only sdk/ and their own subtree (plugins also plugins/internal/)"
	RuleTestenv   = "no product package imports testenv (only tests do)"
	RuleSubjects  = "a broker subject (protocol, journey, admin, scim) imports no other subject and not the broker root"
	RuleShared    = "a shared broker package imports no broker subject and not the broker root"
	RuleContract  = "the contract packages (sdk, sdk/wire, sdk/wasm, sdk/wasm/abi) import only the standard library and each other"
)

// Subjects are the broker's subject packages, relative to the module: each
// answers its own part of Portico's HTTP surface. The root package
// (broker) assembles them; broker/server builds the root from the
// configuration. Every other package under broker/ is shared: the
// subjects may import it, it imports no subject.
var Subjects = []string{"broker/protocol", "broker/journey", "broker/admin", "broker/scim"}

// subjectOf returns the subject rel (a path relative to the module) is
// in, or "".
func subjectOf(rel string) string {
	for _, s := range Subjects {
		if under(rel, s) {
			return s
		}
	}
	return ""
}

// brokerLayer says where rel sits among the broker's packages: "subject",
// "shared", or "" for the root, broker/server and anything not under
// broker/.
func brokerLayer(rel string) string {
	switch {
	case rel == "broker" || under(rel, "broker/server") || !under(rel, "broker"):
		return ""
	case subjectOf(rel) != "":
		return "subject"
	}
	return "shared"
}

// Contract lists the packages, relative to the module, that are the
// connector contract itself. An author's module that imports only these
// needs no other module: go-plugin, gRPC and wazero come in only with
// sdk/plugin and sdk/connectortest (docs/plugins.md, "The sdk module").
var Contract = []string{"sdk", "sdk/wire", "sdk/wasm", "sdk/wasm/abi"}

// standard reports whether an import path is the standard library's: its
// first element has no dot (as the go command decides it).
func standard(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// TestenvExempt lists the non-test packages, relative to the module, that
// may import testenv, each with the reason. Keep it short.
var TestenvExempt = map[string]string{
	"internal/bench": "the benchmark harness (a dev tool, not shipped) drives an in-process broker from testenv",
}

// List runs `go list -json ./...` once in dir and decodes its packages:
// those of the module in dir, without nested modules (the sdk is one).
func List(dir string) ([]Package, error) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports,Module", "./...")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %v\n%s", dir, err, stderr.Bytes())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p Package
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// under reports whether rel (a path relative to the module) is dir or
// inside it.
func under(rel, dir string) bool {
	return rel == dir || strings.HasPrefix(rel, dir+"/")
}

// Check applies the dependency rules to the packages of module and returns
// every violation, sorted.
func Check(module string, pkgs []Package) []Violation {
	rel := func(path string) (string, bool) {
		if path == module {
			return "", true
		}
		r, ok := strings.CutPrefix(path, module+"/")
		return r, ok
	}
	var vs []Violation
	add := func(importer, imported, rule string) {
		vs = append(vs, Violation{importer, imported, rule})
	}
	for _, p := range pkgs {
		from, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(from, "/")
		// own is the subtree a connector or plugin may import from:
		// connectors/oidc for connectors/oidc/oidctest.
		own := ""
		if top == "connectors" || top == "plugins" {
			parts := strings.SplitN(from, "/", 3)
			if len(parts) >= 2 {
				own = parts[0] + "/" + parts[1]
			}
		}
		contract := slices.Contains(Contract, from)
		check := func(imp string, test bool) {
			if contract && !test && !standard(imp) {
				if to, ok := rel(imp); !ok || !slices.Contains(Contract, to) {
					add(p.ImportPath, imp, RuleContract)
				}
			}
			to, ok := rel(imp)
			if !ok {
				return
			}
			switch {
			case top == "sdk":
				if !under(to, "sdk") {
					add(p.ImportPath, imp, RuleSDK)
				}
				return // the sdk rule is the strictest
			case test:
				// The rules below are about product code; tests may
				// use testenv, a store backend or another connector.
				return
			}
			if top == "tokensvc" {
				for _, bad := range []string{"broker", "connectors", "plugins", "cmd", "testenv"} {
					if under(to, bad) {
						add(p.ImportPath, imp, RuleTokensvc)
					}
				}
			}
			// plugins/internal is what the runtimes share (signature
			// checks, bounding a connector's log records): neither the
			// sdk contract nor the broker, and Go keeps it to plugins/.
			shared := top == "plugins" && under(to, "plugins/internal")
			if own != "" && !under(to, "sdk") && !under(to, own) && !shared {
				add(p.ImportPath, imp, RulePluggable)
			}
			switch brokerLayer(from) {
			case "subject":
				if to == "broker" || under(to, "broker/server") || subjectOf(to) != "" && subjectOf(to) != subjectOf(from) {
					add(p.ImportPath, imp, RuleSubjects)
				}
			case "shared":
				if to == "broker" || under(to, "broker/server") || subjectOf(to) != "" {
					add(p.ImportPath, imp, RuleShared)
				}
			}
			if under(to, "testenv") && top != "testenv" {
				if _, exempt := TestenvExempt[from]; !exempt {
					add(p.ImportPath, imp, RuleTestenv)
				}
			}
		}
		for _, imp := range p.Imports {
			check(imp, false)
		}
		for _, imp := range append(append([]string(nil), p.TestImports...), p.XTestImports...) {
			check(imp, true)
		}
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].Importer != vs[j].Importer {
			return vs[i].Importer < vs[j].Importer
		}
		if vs[i].Imported != vs[j].Imported {
			return vs[i].Imported < vs[j].Imported
		}
		return vs[i].Rule < vs[j].Rule
	})
	return dedupe(vs)
}

func dedupe(vs []Violation) []Violation {
	out := vs[:0]
	for i, v := range vs {
		if i == 0 || v != vs[i-1] {
			out = append(out, v)
		}
	}
	return out
}
