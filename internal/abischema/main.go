// Command abischema writes the JSON Schemas of the WASM ABI's messages
// (docs/wasm-abi/*.schema.json) from the Go types both sides use, so that
// an author in another language reads the same contract the broker
// decodes, and it cannot go stale: TestUpToDate fails when the committed
// schemas differ from what this makes.
//
// The schemas come from reflection over the types (sdk/wire's Request and
// Response, sdk/wasm/abi's HTTPRequest and HTTPResponse): a member per
// field with a json tag, typed after the Go type, required when the Go
// encoder always writes it (no omitempty or omitzero). Descriptions are
// the types' and fields' doc comments, read from the source; the values
// of op and kind are sdk/wire's Op* and Kind* constants.
//
// Run it from the repository root, or with go generate ./internal/abischema/:
//
//	go run ./internal/abischema
package main

//go:generate go run . -root ../..

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	root := flag.String("root", ".", "the repository's root directory")
	flag.Parse()
	files, err := Generate(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "abischema:", err)
		os.Exit(1)
	}
	dir := filepath.Join(*root, OutputDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "abischema:", err)
		os.Exit(1)
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, b) {
			continue
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "abischema:", err)
			os.Exit(1)
		}
	}
}
