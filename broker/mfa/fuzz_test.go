package mfa

import (
	"bytes"
	"testing"
	"time"

	"github.com/pquerna/otp/hotp"
)

// pquernaHOTP is pquerna/otp's code for step. Not through its totp
// package: that divides the time as a float64, which is off by a step for
// times past 2^53 seconds, and the fuzzer tries those.
func pquernaHOTP(t *testing.T, secret []byte, step int64) string {
	c, err := hotp.GenerateCode(b32.EncodeToString(secret), uint64(step))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzVerify: no code, time or lastStep makes Verify panic, accept a step
// outside the window or at or before lastStep, or accept anything but the
// right six digits; and the right code for a fresh step is never refused.
// Seeds: testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, code string, unix, lastStep int64) {
		now := time.Unix(unix, 0)
		step, ok := Verify(rfcSecret, code, now, lastStep)
		cur := Step(now)
		if ok {
			in, valid := parseCode(code)
			switch {
			case !valid:
				t.Fatalf("accepted malformed %q", code)
			case step <= lastStep:
				t.Fatalf("accepted step %d, lastStep %d", step, lastStep)
			case step < cur-1 || step > cur+1:
				t.Fatalf("accepted step %d at step %d", step, cur)
			case !bytes.Equal(in, hotpCode(rfcSecret, step)):
				t.Fatalf("accepted %q for step %d, whose code is %s", code, step, hotpCode(rfcSecret, step))
			case string(in) != pquernaHOTP(t, rfcSecret, step):
				t.Fatalf("accepted %q, pquerna/otp disagrees", code)
			}
		}
		if unix >= 0 && cur > lastStep {
			if s, ok := Verify(rfcSecret, Code(rfcSecret, now), now, lastStep); !ok || s < cur-1 || s > cur {
				t.Fatalf("the current code at %d, lastStep %d: %d, %v", unix, lastStep, s, ok)
			}
		}
	})
}

// FuzzMatchRecoveryCode: no input makes MatchRecoveryCode panic or match
// a code other than the one the hash was made from, and every spelling
// that normalizes to a code matches it.
// Seeds: testdata/fuzz/FuzzMatchRecoveryCode.
func FuzzMatchRecoveryCode(f *testing.F) {
	known := []string{"abcdefghijkmnpqr", "23456789stuvwxyz"}
	hashes := make([]string, len(known))
	for i, c := range known {
		hashes[i] = hashRecovery([]byte(c), userSalt)
	}
	f.Fuzz(func(t *testing.T, code string) {
		i, ok := MatchRecoveryCode(code, hashes, userSalt)
		norm, valid := normalizeRecovery(code)
		if ok && (!valid || string(norm) != known[i]) {
			t.Fatalf("%q matched %q", code, known[i])
		}
		if !ok && i != -1 {
			t.Fatalf("%q: no match but index %d", code, i)
		}
		for j, k := range known {
			if valid && string(norm) == k && (!ok || i != j) {
				t.Fatalf("%q normalizes to code %d but matched %d, %v", code, j, i, ok)
			}
		}
		if valid {
			if again, ok := normalizeRecovery(formatRecovery(norm)); !ok || !bytes.Equal(again, norm) {
				t.Fatalf("%q: formatted %q does not normalize back", code, formatRecovery(norm))
			}
		}
	})
}
