package mfa

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The TOTP parameters are fixed at what every authenticator app supports:
// apps that see other values in a key URI may ignore them and show codes
// that never verify.
const (
	// Period is the length of one TOTP step.
	Period = 30 * time.Second
	// Digits is the length of a TOTP code.
	Digits = 6
	// SecretSize is the size of a TOTP secret: 160 bits, the size of a
	// SHA-1 output, as RFC 4226 §4 recommends.
	SecretSize = 20
	// minSecret is RFC 4226's minimum of 128 bits.
	minSecret = 16
)

// QR code sizes: below the minimum the code cannot be drawn at one pixel
// per module, above the maximum a request would buy a large image.
const (
	MinQRSize = 64
	MaxQRSize = 1024
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTP is a new authenticator enrolment. Secret is what the broker keeps,
// sealed (see Sealer); URI and the renderings of it are shown to the
// person once, to put into their app. Both are the second factor itself:
// neither is ever logged.
type TOTP struct {
	Secret []byte
	// URI is the otpauth:// key URI, holding the secret, the issuer and
	// the account name.
	URI string
}

// NewTOTP makes a TOTP key with a random secret. issuer is what apps show
// the entry under (the deployment's name); account tells a person's
// entries for one issuer apart (their username or email).
func NewTOTP(issuer, account string) (TOTP, error) {
	secret := make([]byte, SecretSize)
	rand.Read(secret) // never fails since Go 1.24
	return TOTPFor(issuer, account, secret)
}

// TOTPFor is the key of an existing secret: to show a pending enrolment's
// QR code again.
func TOTPFor(issuer, account string, secret []byte) (TOTP, error) {
	// The key URI's label is "issuer:account"; some apps split it at the
	// first colon, so a colon inside either would mislabel the entry.
	switch {
	case issuer == "" || account == "":
		return TOTP{}, errors.New("totp key: issuer and account are required")
	case strings.Contains(issuer, ":"):
		return TOTP{}, fmt.Errorf("totp key: issuer %q contains a colon", issuer)
	case strings.Contains(account, ":"):
		return TOTP{}, fmt.Errorf("totp key: account %q contains a colon", account)
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(Period / time.Second),
		Secret:      secret,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return TOTP{}, fmt.Errorf("totp key for %q: %w", account, err)
	}
	return TOTP{Secret: secret, URI: key.URL()}, nil
}

// String keeps the secret out of anything that prints a TOTP with %v.
func (t TOTP) String() string { return "mfa.TOTP{secret redacted}" }

// GoString does the same for %#v.
func (t TOTP) GoString() string { return t.String() }

// ManualKey is the secret for typing into an app that cannot scan the QR
// code: base32 as the apps expect, in groups of four for reading aloud
// ("JBSW Y3DP ..."). Apps ignore the spaces.
func (t TOTP) ManualKey() string {
	s := b32.EncodeToString(t.Secret)
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// QRCode renders the key URI as a size×size PNG for an app to scan.
func (t TOTP) QRCode(size int) ([]byte, error) {
	if size < MinQRSize || size > MaxQRSize {
		return nil, fmt.Errorf("totp qr code: size %d outside [%d, %d]", size, MinQRSize, MaxQRSize)
	}
	key, err := otp.NewKeyFromURL(t.URI)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: key uri: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	// A two-colour palette makes the PNG encoder write one bit per pixel,
	// a few hundred bytes instead of the RGB it picks for the barcode's own
	// image type.
	bw := image.NewPaletted(img.Bounds(), color.Palette{color.White, color.Black})
	for y := bw.Rect.Min.Y; y < bw.Rect.Max.Y; y++ {
		for x := bw.Rect.Min.X; x < bw.Rect.Max.X; x++ {
			if color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y < 0x80 {
				bw.SetColorIndex(x, y, 1)
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, bw); err != nil {
		return nil, fmt.Errorf("totp qr code: png: %w", err)
	}
	return buf.Bytes(), nil
}

// Step is the TOTP step t falls in: the number of whole periods since the
// Unix epoch.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Code is the code an authenticator app shows for secret at time t. The
// broker never needs it; tests and the dev environment act as the app.
func Code(secret []byte, t time.Time) string {
	return string(hotpCode(secret, Step(t)))
}

// hotpCode is RFC 4226 HOTP with SHA-1 and 6 digits for counter step;
// TOTP is HOTP over the step number. Computed here rather than through
// pquerna/otp, whose API takes the secret as base32 and returns errors
// that cannot happen for raw bytes; the tests hold it to the RFC vectors
// and to pquerna/otp.
func hotpCode(secret []byte, step int64) []byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0xf // dynamic truncation, RFC 4226 §5.3
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Appendf(nil, "%06d", v%1_000_000)
}

// Verify checks a code typed by a person against secret at time now. It
// accepts the code of now's step or of the step either side (the app's
// clock may be off, and the person needs a moment to type), but only a
// step after lastStep: a code is good once, and an older code is not good
// after a newer one. On success it returns the step the code belongs to;
// the caller stores it as the next lastStep (0 before the first use) with
// compare-and-swap.
//
// The code may carry surrounding white space and spaces inside ("123 456",
// as apps display it); otherwise it must be 6 ASCII digits. Secrets shorter
// than RFC 4226's 128 bits never verify, so a missing or truncated secret
// fails closed rather than accepting codes anyone can compute.
func Verify(secret []byte, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	in, valid := parseCode(code)
	if !valid || len(secret) < minSecret || now.Unix() < 0 {
		return 0, false
	}
	cur := Step(now)
	// Every candidate is computed and compared in constant time, with no
	// early return, so the time taken says nothing about how close a guess
	// came or which step it matched.
	found := 0
	for s := cur - 1; s <= cur+1; s++ {
		if s < 0 {
			continue
		}
		eq := subtle.ConstantTimeCompare(hotpCode(secret, s), in)
		// The earliest fresh match wins: it leaves the person's next code
		// usable. Two steps share a code one time in a million.
		if eq == 1 && found == 0 && s > lastStep {
			step, found = s, 1
		}
	}
	return step, found == 1
}

// parseCode drops white space around the code and spaces inside it, and
// accepts what is left only if it is exactly Digits ASCII digits.
func parseCode(s string) ([]byte, bool) {
	if len(s) > 64 { // bounds the work for junk input
		return nil, false
	}
	s = strings.TrimSpace(s)
	out := make([]byte, 0, Digits)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
		case c >= '0' && c <= '9' && len(out) < Digits:
			out = append(out, c)
		default:
			return nil, false
		}
	}
	return out, len(out) == Digits
}
