//go:build !race

package broker_test

// porticoBuildFlags: see race_on_test.go.
var porticoBuildFlags []string
