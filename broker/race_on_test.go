//go:build race

package broker_test

// porticoBuildFlags build the portico child processes of the tests with
// the race detector when the tests run with it: the replicas and the
// killed servers are where concurrent requests meet, and one race build
// of the module serves both the test binary and its children instead of a
// second, non-race build (make test, issue 19).
var porticoBuildFlags = []string{"-race"}
