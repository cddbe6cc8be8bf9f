// Package mail sends Portico's email: verification, password reset and
// invitation messages, each one person's link to act on their account
// (docs/mail.md).
//
// Message is what a flow hands over; SMTP renders it (RFC 5322,
// multipart/alternative, quoted-printable UTF-8) and sends it through one
// server with the standard library's net/smtp, over STARTTLS by default.
// A flow does not call SMTP itself: it calls Outbox.Enqueue, which returns
// once the message is in the store, and a worker on every replica sends it.
//
// Why an outbox: an SMTP server is another system that is sometimes down
// or slow. A message kept only in memory would be lost with a restart,
// and a request waiting on SMTP would hang with it. In the store, the
// message survives restarts and every replica can send it, and the
// request that asked for it answers at once.
//
// Why leases: replicas share the store, so each message must be sent by
// one of them. A worker claims a due message by compare-and-swap on the
// record's Version, writing its owner id and a lease expiry; the others
// skip it until the lease ends. A worker that dies mid-send thus leaves
// the message to another after the lease, and the send itself is cut at
// half the lease so that a live worker is done before anyone may retry.
// Delivery is at least once: a worker that dies after the server took the
// message and before deleting the record makes another send it again,
// with the same Message-ID.
//
// Retries: a temporary failure (network, TLS, a 4xx reply, an
// authentication or settings problem) is tried again after an exponential
// backoff, until the message's maximum age or attempts; a permanent one
// (a 5xx reply to the message or its recipient) is dropped at once.
//
// What is logged: one line per outcome, with the message's kind, its
// Message-ID, the recipient's domain, the attempt, the result and the
// error's class, stage and reply codes. Never the address, the subject, the
// body or the server's reply text, which often quotes the address: a
// message holds a secret link, and logs go to more people than the store.
// The metrics (NewMetrics) count outcomes by kind and result and report
// the queue's depth.
package mail
