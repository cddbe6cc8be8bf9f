// Package image builds Portico's container image without a Docker daemon
// or a registry: a static portico binary, the build machine's CA
// certificates and a nonroot user in one layer on an empty base, written as
// an image tarball that `docker load`, `podman load` and `crane push` take.
//
// ko would do the same, but it must pull a base image from a registry,
// which the machines that build Portico cannot reach; go-containerregistry
// (the library ko is built on) writes the image from nothing. The result is
// what the Dockerfile in the repository root builds on
// gcr.io/distroless/static-debian12:nonroot: /portico run as 65532:65532,
// CA certificates, /etc/passwd with nonroot, a writable /tmp.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's fixed parts, shared with the Dockerfile and the Helm chart.
const (
	// UID and GID the server runs as: distroless's "nonroot".
	UID = 65532
	// User is the config's User field.
	User = "65532:65532"
	// Binary is where the portico binary is in the image.
	Binary = "/portico"
	// CACertsPath is where Go's crypto/x509 looks first on Linux.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// DataDir is a directory owned by the server's user, for Badger
	// (storage.dir) when no volume is mounted there.
	DataDir = "/var/lib/portico"
	// Port is the port the image's documentation and the chart listen on
	// (listen: 0.0.0.0:8080 in the config); exposed in the config.
	Port = "8080/tcp"
	// DefaultSource is org.opencontainers.image.source unless set.
	DefaultSource = "https://github.com/portico-idp/portico"
	// VersionPkg is the package whose variables -ldflags -X sets.
	VersionPkg = "github.com/portico-idp/portico/internal/version"
)

// Cmd is the image's default arguments to /portico.
var Cmd = []string{"serve", "--config", "/etc/portico/portico.yaml"}

// Options says what to build.
type Options struct {
	// Dir is the module's root, where `go build` runs.
	Dir string
	// Output is the tarball written.
	Output string
	// Tag names the image in the tarball (repository:tag); default
	// "portico:" and the version.
	Tag string
	// GOARCH of the image; default the build machine's.
	GOARCH string
	// Version, Commit and Date are stamped into the binary and the labels.
	// Date is RFC 3339; when it parses, it is also the image's and its
	// files' time, so that one commit gives one image digest.
	Version, Commit, Date string
	// CACerts is the PEM bundle copied in; default CACertsPath of the
	// build machine.
	CACerts string
	// Source is the org.opencontainers.image.source label.
	Source string
	// Go is the go command; default "go".
	Go string
}

func (o *Options) defaults() {
	if o.GOARCH == "" {
		o.GOARCH = runtime.GOARCH
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Commit == "" {
		o.Commit = "unknown"
	}
	if o.Date == "" {
		o.Date = "unknown"
	}
	if o.CACerts == "" {
		o.CACerts = CACertsPath
	}
	if o.Source == "" {
		o.Source = DefaultSource
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Tag == "" {
		o.Tag = "portico:" + TagFor(o.Version)
	}
}

var badTagChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// TagFor turns a version (v1.2.0+meta, a git describe) into a valid image
// tag: other characters become '-', at most 128 characters.
func TagFor(version string) string {
	t := badTagChars.ReplaceAllString(version, "-")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// Build compiles portico as a static linux binary and writes the image
// tarball to o.Output.
func Build(ctx context.Context, o Options) error {
	o.defaults()
	if o.Output == "" {
		return errors.New("image: no output path")
	}
	tag, err := name.NewTag(o.Tag)
	if err != nil {
		return fmt.Errorf("image: tag %q: %w", o.Tag, err)
	}
	tmp, err := os.MkdirTemp("", "portico-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "portico")
	if err := BuildBinary(ctx, o, bin); err != nil {
		return err
	}
	img, err := New(o, bin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.Output), 0o755); err != nil {
		return err
	}
	return tarball.WriteToFile(o.Output, tag, img)
}

// BuildBinary runs `go build` for linux/o.GOARCH with cgo off (a static
// binary that needs no libc in the image), -trimpath (no build machine
// paths in it) and the version stamped.
func BuildBinary(ctx context.Context, o Options, out string) error {
	o.defaults()
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X", VersionPkg + ".Version=" + o.Version,
		"-X", VersionPkg + ".Commit=" + o.Commit,
		"-X", VersionPkg + ".Date=" + o.Date,
	}, " ")
	cmd := exec.CommandContext(ctx, o.Go, "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/portico")
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+o.GOARCH)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("image: go build: %w\n%s", err, stderr.Bytes())
	}
	return nil
}

// New returns the image holding the binary at bin.
func New(o Options, bin string) (v1.Image, error) {
	o.defaults()
	created := time.Unix(0, 0).UTC()
	if t, err := time.Parse(time.RFC3339, o.Date); err == nil {
		created = t.UTC()
	}
	layer, err := rootfs(o, bin, created)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "portico internal/image", Comment: "portico " + o.Version},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.GOARCH
	cf.Created = v1.Time{Time: created}
	cf.Config.User = User
	cf.Config.Entrypoint = []string{Binary}
	cf.Config.Cmd = append([]string(nil), Cmd...)
	cf.Config.WorkingDir = "/"
	cf.Config.ExposedPorts = map[string]struct{}{Port: {}}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":       "portico",
		"org.opencontainers.image.description": "Portico, an OpenID Connect identity broker",
		"org.opencontainers.image.version":     o.Version,
		"org.opencontainers.image.revision":    o.Commit,
		"org.opencontainers.image.created":     o.Date,
		"org.opencontainers.image.source":      o.Source,
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the image's only layer.
func rootfs(o Options, bin string, mtime time.Time) (v1.Layer, error) {
	exe, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("image: CA certificates: %w (install ca-certificates or pass their path)", err)
	}
	if !bytes.Contains(certs, []byte("-----BEGIN CERTIFICATE-----")) {
		return nil, fmt.Errorf("image: %s holds no PEM certificate", o.CACerts)
	}
	type entry struct {
		path     string
		mode     int64
		uid      int
		body     []byte
		dir      bool
		typeflag byte
	}
	entries := []entry{
		{path: "etc/", mode: 0o755, dir: true},
		{path: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{path: "etc/portico/", mode: 0o755, dir: true},
		{path: "etc/ssl/", mode: 0o755, dir: true},
		{path: "etc/ssl/certs/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(CACertsPath, "/"), mode: 0o644, body: certs},
		{path: "home/", mode: 0o755, dir: true},
		{path: "home/nonroot/", mode: 0o700, uid: UID, dir: true},
		{path: "tmp/", mode: 0o1777, dir: true},
		{path: "var/", mode: 0o755, dir: true},
		{path: "var/lib/", mode: 0o755, dir: true},
		{path: strings.TrimPrefix(DataDir, "/") + "/", mode: 0o700, uid: UID, dir: true},
		{path: strings.TrimPrefix(Binary, "/"), mode: 0o755, body: exe},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mtime,
			Typeflag: tar.TypeReg, Size: int64(len(e.body)), Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}
