// Package archtest holds the dependency rules of Portico's packages as a
// test (see docs/architecture.md, "Dependency rules"). It has no product
// code: Check is the rule function, shared by the test over the real module
// and by the test over a small fixture module in testdata/ that breaks
// every rule on purpose.
package archtest
