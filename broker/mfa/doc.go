// Package mfa holds the building blocks of second factors: TOTP
// authenticator apps (RFC 6238), one-time recovery codes, and the sealing
// of TOTP secrets at rest. It is pure computation: no HTTP, no store. The
// broker decides when to ask for a second factor, the store keeps what
// this package returns, and both call in here for the parts that are easy
// to get subtly wrong.
//
// # A stolen database
//
// The design assumes someone walks off with a copy of the store, the way
// the rest of Portico does (argon2id password hashes, sealed upstream
// tokens). What they find of a person's second factor:
//
//   - Recovery codes only as salted HMAC-SHA-256 hashes. The codes are 80
//     random bits each, so there is no dictionary to try: finding one of a
//     person's ten takes about 2^76 hashes, hundreds of thousands of years
//     for a GPU doing 10^10 a second, and a per-user salt means none of
//     that work carries over to the next person. A slow hash (argon2)
//     protects the low-entropy secrets people choose; for random ones it
//     adds nothing but the cost of a password check to every recovery
//     attempt, which anyone can trigger. (That is also why the codes have
//     16 characters, not 10: 50 bits hashed fast fall in hours.)
//   - TOTP secrets sealed with AES-256-GCM under a key that does not live
//     in the store. A TOTP secret in clear would be worse than a password
//     hash: it is not a hash to crack but the second factor itself, valid
//     until the person re-enrols. The additional data binds each sealed
//     secret to its user id, so whoever can write to the store cannot copy
//     their own secret onto someone else's account and pass as them.
//
// # Reuse
//
// A TOTP code stays acceptable for about 90 seconds (its 30-second step
// plus one step of clock skew either side). Anyone who sees it in that
// time (over a shoulder, through a phishing proxy, in a screen recording)
// could log in with it again. RFC 6238 §5.2 says a verifier must not
// accept an OTP a second time; Verify enforces it by refusing any step at
// or before the last one accepted, which also means an older code cannot
// be used after a newer one. The caller stores the returned step and must
// do so with compare-and-swap (the store's Version), or two concurrent
// requests carrying the same code could both succeed.
//
// # What callers still owe
//
// A 6-digit code across three steps is guessed with probability 3 in a
// million per try, so attempts must be rate-limited per account. Recovery
// codes must be marked used, again with compare-and-swap. Secrets, key
// URIs, QR codes and codes are never logged.
package mfa
