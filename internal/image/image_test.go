package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/portico-idp/portico/internal/image"
)

// TestImage builds the image as `make image` does, into a temporary
// directory, reads the tarball back with go-containerregistry and checks
// what a container runtime will use: the entrypoint and arguments, a
// non-root user, the OCI labels, a static /portico that runs and knows its
// stamped version, CA certificates, and a data directory the user owns.
func TestImage(t *testing.T) {
	// A static build of portico misses the cache of every other build
	// (cgo off, -trimpath): about a minute cold on 2 idle cores, several on
	// busy ones. `make package-check` (run by CI) sets the variable.
	if os.Getenv("PORTICO_IMAGE_TEST") == "" {
		t.Skip("set PORTICO_IMAGE_TEST=1, or run `make package-check`, to build and inspect the image")
	}
	if _, err := os.Stat(image.CACertsPath); err != nil {
		t.Skipf("no CA bundle on this machine (%v): install ca-certificates", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "portico.tar")
	o := image.Options{
		Dir: "../..", Output: out,
		Version: "v1.2.3-test+meta", Commit: "0123456789abcdef", Date: "2026-01-02T03:04:05Z",
	}
	if err := image.Build(ctx, o); err != nil {
		t.Fatal(err)
	}

	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatalf("read tarball: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	checks := []struct {
		what      string
		got, want any
	}{
		{"os", cf.OS, "linux"},
		{"architecture", cf.Architecture, runtime.GOARCH},
		{"user", c.User, "65532:65532"},
		{"entrypoint", c.Entrypoint, []string{"/portico"}},
		{"cmd", c.Cmd, []string{"serve", "--config", "/etc/portico/portico.yaml"}},
		{"version label", c.Labels["org.opencontainers.image.version"], "v1.2.3-test+meta"},
		{"revision label", c.Labels["org.opencontainers.image.revision"], "0123456789abcdef"},
		{"source label", c.Labels["org.opencontainers.image.source"], "https://github.com/portico-idp/portico"},
		{"created label", c.Labels["org.opencontainers.image.created"], "2026-01-02T03:04:05Z"},
		{"created", cf.Created.UTC().Format(time.RFC3339), "2026-01-02T03:04:05Z"},
	}
	for _, ch := range checks {
		if !equal(ch.got, ch.want) {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 8080/tcp", c.ExposedPorts)
	}

	files := extract(t, img)
	bin, ok := files["portico"]
	if !ok {
		t.Fatal("no /portico in the image")
	}
	if bin.hdr.Mode&0o111 == 0 {
		t.Errorf("/portico mode %o is not executable", bin.hdr.Mode)
	}
	assertStatic(t, bin.body)
	certs, ok := files["etc/ssl/certs/ca-certificates.crt"]
	if !ok || !x509.NewCertPool().AppendCertsFromPEM(certs.body) {
		t.Error("no usable CA certificates at /etc/ssl/certs/ca-certificates.crt")
	}
	if d, ok := files["var/lib/portico"]; !ok || d.hdr.Uid != image.UID {
		t.Errorf("/var/lib/portico missing or not owned by %d", image.UID)
	}
	if p := files["etc/passwd"]; !bytes.Contains(p.body, []byte("nonroot:x:65532:65532:")) {
		t.Errorf("/etc/passwd has no nonroot user: %q", p.body)
	}
	if tmp, ok := files["tmp"]; !ok || tmp.hdr.Mode&0o1777 != 0o1777 {
		t.Error("no world-writable sticky /tmp")
	}

	// The binary itself answers --version with what was stamped: the
	// -ldflags -X of the image build reach the program.
	if runtime.GOOS == "linux" {
		exe := filepath.Join(t.TempDir(), "portico")
		if err := os.WriteFile(exe, bin.body, 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := exec.CommandContext(ctx, exe, "--version").Output()
		if err != nil {
			t.Fatalf("/portico --version: %v", err)
		}
		want := "portico v1.2.3-test+meta (commit 0123456789abcdef, date 2026-01-02T03:04:05Z, " + runtime.Version() + ")\n"
		if string(got) != want {
			t.Errorf("/portico --version = %q, want %q", got, want)
		}
	}
}

// TestTagFor: any version string becomes a valid image tag.
func TestTagFor(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"v1.2.3", "v1.2.3"},
		{"v1.2.3+meta", "v1.2.3-meta"},
		{"dd9c6dd-dirty", "dd9c6dd-dirty"},
		{"", "v"},
		{".x", "v.x"},
		{strings.Repeat("a", 200), strings.Repeat("a", 128)},
	} {
		if got := image.TagFor(tt.in); got != tt.want {
			t.Errorf("TagFor(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func equal(a, b any) bool {
	if as, ok := a.([]string); ok {
		bs, ok := b.([]string)
		return ok && slices.Equal(as, bs)
	}
	return a == b
}

type file struct {
	hdr  *tar.Header
	body []byte
}

// extract reads the image's flattened filesystem, by cleaned path.
func extract(t *testing.T, img v1.Image) map[string]file {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[path.Clean(strings.TrimPrefix(h.Name, "/"))] = file{h, body}
	}
}

// assertStatic fails unless exe is an ELF executable that needs no dynamic
// loader (no PT_INTERP) and no shared library: it runs on an image with no
// libc.
func assertStatic(t *testing.T, exe []byte) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(exe))
	if err != nil {
		t.Fatalf("/portico is not ELF: %v", err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		t.Errorf("/portico ELF type %v", f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/portico has an ELF interpreter: not a static binary (built with cgo?)")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("/portico needs shared libraries %v", libs)
	}
}
