package config

import (
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// LoadWith reads, parses and validates the file at path like Load, with
// set applied to the decoded file before defaults and validation: the
// command line's overrides (portico serve --issuer), checked as if the
// file said them.
func LoadWith(path string, set func(*Config)) (*Config, error) {
	root, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return fromNodeWith(root, set)
}

// readFile reads and parses the YAML document at path.
func readFile(path string) (*yaml.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return readDocument(data)
}

// Suggest returns the name in names closest to key when it is close
// enough to be a typo, or "": the "did you mean" of unknown fields, for
// checks outside this package (connectors' config blocks).
func Suggest(key string, names []string) string { return suggest(key, names) }

// Check reads the file at path as Load does, but returns the decoded
// configuration along with its validation problems, so that a checker can
// go on to check what depends on it (connectors' own config blocks). The
// configuration is nil when the file cannot be read or decoded.
func Check(path string) (*Config, error) {
	root, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return fromNodeAll(root, nil)
}
