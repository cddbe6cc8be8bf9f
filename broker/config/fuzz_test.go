package config

import (
	"errors"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse feeds Parse arbitrary files (seeds: examples/portico.yaml, and
// in testdata/fuzz/FuzzParse the spec example and broken documents). Parse
// must not panic and must return only *FieldErrors. No error may quote a
// secret: a syntax error quotes nothing of the file, and a document that
// parses is decoded again with every value under a secret, secret_hash or
// password_hash key replaced by the seeds' secret, which must not show.
// (The unchanged document may hold that text as a field name, say, which
// an error rightly quotes.)
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../examples/portico.yaml"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data)
		checkFieldError(t, err)

		root, err := readDocument(data)
		if err != nil {
			checkNoSecret(t, err, secret, "example-secret", aliceHash)
			return
		}
		if root == nil || holds(root, secret) || !plantSecret(root, false) {
			return
		}
		_, err = fromNode(root)
		checkFieldError(t, err)
		checkNoSecret(t, err, secret)
	})
}

func checkFieldError(t *testing.T, err error) {
	t.Helper()
	var fe *FieldError
	if err != nil && (!errors.As(err, &fe) || !strings.HasPrefix(err.Error(), "config: ")) {
		t.Errorf("error %q is not a *FieldError", err)
	}
}

func checkNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err != nil && strings.Contains(err.Error(), s) {
			t.Errorf("error quotes the secret %q:\n%v", s, err)
		}
	}
}

// holds reports whether s is already written somewhere in the tree, where
// an error may rightly quote it (as a client id, say).
func holds(n *yaml.Node, s string) bool {
	if strings.Contains(n.Value, s) || strings.Contains(n.Tag, s) || strings.Contains(n.Anchor, s) {
		return true
	}
	for _, c := range n.Content {
		if holds(c, s) {
			return true
		}
	}
	return false
}

// plantSecret sets every scalar value (not key) under a secret field to
// the secret, and reports whether it set any. It skips anchored values:
// an alias may reuse those in a field whose errors quote it.
func plantSecret(n *yaml.Node, under bool) bool {
	if n.Anchor != "" {
		return false
	}
	planted := false
	switch n.Kind {
	case yaml.ScalarNode:
		if under {
			n.Value = secret
			return true
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			planted = plantSecret(c, under) || planted
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			sec := under || k == "secret" || k == "secret_hash" || k == "password_hash"
			planted = plantSecret(n.Content[i+1], sec) || planted
		}
	}
	return planted
}
