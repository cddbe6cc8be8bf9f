package browser

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Screenshot saves a PNG of the whole page, not just the viewport, as
// name.png in the test's artifacts directory (see the package doc) and
// returns its path. A later screenshot with the same name replaces it.
func (b *Browser) Screenshot(ctx context.Context, name string) (string, error) {
	b.t.Helper()
	png, err := run(ctx, b, "take screenshot "+name, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		return "", err
	}
	path := filepath.Join(b.dir, fileName(strings.TrimSuffix(name, ".png"))+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		return "", fmt.Errorf("browser: saving screenshot: %w", err)
	}
	b.t.Logf("browser: screenshot %s", path)
	return path, nil
}

// Copy copies the file src to dst, creating dst's directory: to keep a
// screenshot beyond the test, in docs/screenshots/ for one. A relative dst
// is relative to the test's package directory, where `go test` runs it.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// artifactsDir is PORTICO_ARTIFACTS/<test name>, created, or a temporary
// directory when that variable is unset.
func artifactsDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv("PORTICO_ARTIFACTS")
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, fileName(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browser: artifacts directory: %v", err)
	}
	return dir
}

// failureShot saves failure.png (failure-2.png, ... when a test has
// several Browsers) after a failed test, for whoever reads the CI logs.
func (b *Browser) failureShot() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := "failure"
	for i := 2; ; i++ {
		if _, err := os.Stat(filepath.Join(b.dir, name+".png")); os.IsNotExist(err) {
			break
		}
		name = fmt.Sprintf("failure-%d", i)
	}
	if _, err := b.Screenshot(ctx, name); err != nil {
		b.t.Logf("browser: no failure screenshot: %v", err)
	}
}

// fileName makes s safe as one file name: anything but letters, digits,
// '.', '-' and '_' becomes '_' (a subtest's '/' included).
func fileName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
	if s == "" || strings.Trim(s, ".") == "" {
		return "_"
	}
	return s
}
