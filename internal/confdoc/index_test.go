package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsIndex keeps docs/README.md whole: every document under docs/
// (but the template in docs/src) has a line in it, and every local link
// it holds leads to a file.
func TestDocsIndex(t *testing.T) {
	docs := filepath.Join(root, "docs")
	index, err := os.ReadFile(filepath.Join(docs, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	linked := map[string]bool{}
	for _, m := range regexp.MustCompile(`\]\(([^)#]+)[^)]*\)`).FindAllStringSubmatch(string(index), -1) {
		target := m[1]
		if strings.Contains(target, "://") {
			continue
		}
		if _, err := os.Stat(filepath.Join(docs, target)); err != nil {
			t.Errorf("docs/README.md links to %s, which does not exist", target)
		}
		linked[filepath.Clean(target)] = true
	}
	err = filepath.WalkDir(docs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(docs, p)
		if d.IsDir() && rel == "src" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") && rel != "README.md" && !linked[rel] {
			t.Errorf("docs/README.md has no line for %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
