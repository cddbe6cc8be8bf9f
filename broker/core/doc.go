// Package core is the vocabulary the broker's subject packages share:
// the connector set and how a call into a connector is made, the errors
// more than one subject tests for, and a few small values (the admin
// audience, grant type names, client secret hashing) that two subjects
// must spell the same way.
//
// It holds no behaviour of a subject. The subjects (broker/protocol,
// broker/journey, broker/admin) never import each other, so whatever
// two of them must agree on lives here, or in broker/audit, broker/ui
// or broker/identity, the other shared packages. core imports nothing
// of the broker but its store.
package core
