// Command confdoc writes docs/configuration.md from the configuration types
// of broker/config, so that the reference cannot go stale.
//
// The prose lives in docs/src/configuration.md. Each line of it of the
// form
//
//	<!-- fields: clients[] -->
//
// is replaced by the table of that section: one row per field of the Go
// struct at that path, with its YAML name (from the yaml tag), its type
// (from the Go type), its default and its description (the field's doc
// comment, read with go/parser). A line
//
//	<!-- include: examples/portico.yaml -->
//
// is replaced by that file, verbatim. Every section must be placed exactly
// once and every field must have a doc comment, or confdoc fails: a new
// field or struct cannot be added without its documentation.
//
// Defaults come from running config.ApplyDefaults on an empty
// configuration (one element in each list), so they are the code's; the
// few defaults applied elsewhere (the broker, the throttle package) and
// the required fields are in otherDefaults below, each naming where it
// comes from, and may not shadow a computed one.
//
// Run it from the repository root (go generate ./broker/config/ does):
//
//	go run ./internal/confdoc
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository's root directory")
	check := flag.Bool("check", false, "only report whether docs/configuration.md is up to date")
	flag.Parse()
	out, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "confdoc:", err)
		os.Exit(1)
	}
	dst := filepath.Join(*root, OutputPath)
	if *check {
		cur, err := os.ReadFile(dst)
		if err != nil || string(cur) != string(out) {
			fmt.Fprintf(os.Stderr, "confdoc: %s is out of date: run go generate ./broker/config/\n", OutputPath)
			os.Exit(1)
		}
		return
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "confdoc:", err)
		os.Exit(1)
	}
}

// Where the template is read from and the result written to, relative to
// the repository's root.
const (
	TemplatePath = "docs/src/configuration.md"
	OutputPath   = "docs/configuration.md"
)

// commentDirs are the packages whose struct field comments describe
// configuration fields.
var commentDirs = []string{"broker/config", "broker/mapping"}
