package config

import (
	"errors"
	"fmt"
	"regexp"

	goccy "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

// YAML syntax errors with a line and a column (issue 19). go.yaml.in/yaml/v3
// reports a syntax error's line only, sometimes one off and sometimes
// none; a second parser (goccy/go-yaml) locates the token it stumbles on.
// The message stays yaml.v3's fixed text: goccy's quotes the source,
// which may hold a secret.

var yamlLineRE = regexp.MustCompile(`^line [0-9]+: `)

// syntaxPosition returns where a second parser finds the syntax error in
// data, or false when it finds none (the parsers disagree).
func syntaxPosition(data []byte) (line, col int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, err := parser.ParseBytes(data, 0)
	var se *goccy.SyntaxError
	if !errors.As(err, &se) || se.Token == nil || se.Token.Position == nil || se.Token.Position.Line < 1 {
		return 0, 0, false
	}
	return se.Token.Position.Line, se.Token.Position.Column, true
}

// withPosition rewrites a yaml.v3 syntax message ("line 3: problem" or
// "problem") as "line L, column C: problem" when the position is known.
func withPosition(msg string, data []byte) string {
	line, col, ok := syntaxPosition(data)
	if !ok {
		return msg
	}
	return fmt.Sprintf("line %d, column %d: %s", line, col, yamlLineRE.ReplaceAllString(msg, ""))
}
