package mfa_test

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/portico-idp/portico/broker/mfa"
)

// Enrolment and login with an authenticator app, as the broker does it.
// The store is played by local variables.
func Example() {
	sealer, err := mfa.NewSealer([]byte("a 32-byte key from the data dir!"))
	if err != nil {
		log.Fatal(err)
	}
	userID := []byte("u-4f1c9a")

	// Enrolment: make a key, show it, keep the secret sealed to the user.
	key, err := mfa.NewTOTP("Portico", "alice@example.com")
	if err != nil {
		log.Fatal(err)
	}
	qr, err := key.QRCode(256) // served as image/png on the enrolment page
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("QR code is a PNG:", string(qr[1:4]) == "PNG")
	_ = key.ManualKey() // shown under it: "ABCD EFGH ..."
	sealed, err := sealer.Seal(key.Secret, userID)
	if err != nil {
		log.Fatal(err)
	}
	var lastStep int64 // stored with the sealed secret; 0 until first use

	// Before enrolment counts, the person proves the app works. Here the
	// test plays the app.
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	step, ok := mfa.Verify(key.Secret, mfa.Code(key.Secret, now), now, lastStep)
	fmt.Println("enrolment code accepted:", ok)
	lastStep = step // compare-and-swap in the store

	// Recovery codes, shown once; the store keeps the hashes.
	codes, hashes, err := mfa.NewRecoveryCodes(0, userID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("recovery codes:", len(codes), "like", len(codes[0]), "characters xxxx-xxxx-xxxx-xxxx")

	// Login, a minute later: open the secret, check the code.
	now = now.Add(time.Minute)
	secret, err := sealer.Open(sealed, userID)
	if err != nil {
		log.Fatal(err)
	}
	code := mfa.Code(secret, now)
	step, ok = mfa.Verify(secret, code, now, lastStep)
	fmt.Println("login code accepted:", ok)
	lastStep = step
	_, ok = mfa.Verify(secret, code, now.Add(10*time.Second), lastStep)
	fmt.Println("same code again accepted:", ok)

	// The sealed secret copied onto another user does not open.
	_, err = sealer.Open(sealed, []byte("u-mallory"))
	fmt.Println("opens for another user:", err == nil)

	// Phone lost: a recovery code, typed carelessly, is good once.
	typed := " " + strings.ToUpper(codes[3][:9]+codes[3][10:]) + "\n"
	i, ok := mfa.MatchRecoveryCode(typed, hashes, userID)
	fmt.Println("recovery code accepted:", ok, "index", i)
	hashes[i] = "" // mark used (compare-and-swap in the store)
	_, ok = mfa.MatchRecoveryCode(codes[3], hashes, userID)
	fmt.Println("recovery code accepted twice:", ok)

	// Output:
	// QR code is a PNG: true
	// enrolment code accepted: true
	// recovery codes: 10 like 19 characters xxxx-xxxx-xxxx-xxxx
	// login code accepted: true
	// same code again accepted: false
	// opens for another user: false
	// recovery code accepted: true index 3
	// recovery code accepted twice: false
}
