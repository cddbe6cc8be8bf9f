package config

// docs/configuration.md is generated from docs/src/configuration.md and
// the doc comments of this package's configuration types; a test in
// internal/confdoc fails when it is out of date.
//go:generate go run ../../internal/confdoc -root ../..
