package wasmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// ASCUsers is the SDK's AssemblyScript example, a password connector
// written against docs/wasm-abi.md alone, relative to the repository's
// root.
const ASCUsers = "sdk/examples/asc-users"

var asc struct {
	once sync.Once
	wasm []byte
	skip string // why it cannot be built here
	err  error
	out  string
}

// AssemblyScript builds the AssemblyScript example with the asc compiler
// from npm (installed into the example's node_modules by npm ci, here when
// `make deps` has not) and returns the module. Without Node.js or npm, or
// when the compiler cannot be installed, the test skips, and under
// CI=true fails.
// It is built once per process.
func AssemblyScript(t testing.TB) []byte {
	t.Helper()
	asc.once.Do(func() {
		dir := filepath.Join(Root(), ASCUsers)
		run := func(name string, args ...string) error {
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			var log bytes.Buffer
			cmd.Stdout, cmd.Stderr = &log, &log
			err := cmd.Run()
			asc.out += log.String()
			return err
		}
		if _, err := exec.LookPath("node"); err != nil {
			asc.skip = "Node.js is not installed, so the AssemblyScript compiler cannot run"
			return
		}
		compiler := filepath.Join(dir, "node_modules", ".bin", "asc")
		if _, err := os.Stat(compiler); err != nil {
			if _, err := exec.LookPath("npm"); err != nil {
				asc.skip = "npm is not installed, so the AssemblyScript compiler cannot be: run make deps"
				return
			}
			if err := run("npm", "ci", "--no-audit", "--no-fund"); err != nil {
				asc.skip = "npm ci in " + ASCUsers + " failed (no registry?): " + err.Error() + "\n" + asc.out
				return
			}
		}
		tmp, err := os.MkdirTemp("", "portico-asc-")
		if err != nil {
			asc.err = err
			return
		}
		defer os.RemoveAll(tmp)
		out := filepath.Join(tmp, "asc-users.wasm")
		// The build of package.json's "build" script, into a temporary file.
		if asc.err = run(compiler, "assembly/index.ts", "--target", "release", "--outFile", out); asc.err != nil {
			return
		}
		asc.wasm, asc.err = os.ReadFile(out)
	})
	if asc.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the AssemblyScript connector must be built: " + asc.skip)
		}
		t.Skip("SKIPPED LOUDLY: " + asc.skip)
	}
	if asc.err != nil {
		t.Fatalf("build %s with asc: %v\n%s", ASCUsers, asc.err, asc.out)
	}
	return asc.wasm
}
