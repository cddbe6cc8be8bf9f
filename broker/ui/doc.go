// Package ui renders what a person sees: the page templates, the
// operator's theme, the message catalogue, and the authorization
// response in its response mode (a redirect, or the form_post page).
//
// It is shared by the subjects that answer browsers (broker/journey's
// login pages, broker/protocol's authorization errors) and by the
// broker's own middleware (a refused body, a throttled address), so that
// every page has one look, one wording and the same security headers. It
// decides nothing: which page and why is the caller's.
package ui
