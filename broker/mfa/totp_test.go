package mfa

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// rfcSecret is the SHA-1 secret of RFC 6238's test vectors.
var rfcSecret = []byte("12345678901234567890")

// pquernaCode is the reference: the code pquerna/otp computes.
func pquernaCode(t *testing.T, secret []byte, at time.Time, digits otp.Digits) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(b32.EncodeToString(secret), at, totp.ValidateOpts{
		Period: 30, Digits: digits, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCodeRFC6238 holds Code to RFC 6238 Appendix B (SHA-1). The RFC's
// codes have 8 digits; a 6-digit code is the same value mod 10^6, that is
// its last six digits.
func TestCodeRFC6238(t *testing.T) {
	tests := []struct {
		unix  int64
		step  int64
		code8 string
	}{
		{59, 0x1, "94287082"},
		{1111111109, 0x23523EC, "07081804"},
		{1111111111, 0x23523ED, "14050471"},
		{1234567890, 0x273EF07, "89005924"},
		{2000000000, 0x3F940AA, "69279037"},
		{20000000000, 0x27BC86AA, "65353130"},
	}
	for _, tt := range tests {
		at := time.Unix(tt.unix, 0)
		if got := Step(at); got != tt.step {
			t.Errorf("Step(%d) = %#x, want %#x", tt.unix, got, tt.step)
		}
		if got := pquernaCode(t, rfcSecret, at, otp.DigitsEight); got != tt.code8 {
			t.Errorf("pquerna/otp at %d = %s, want %s (vector mistyped?)", tt.unix, got, tt.code8)
		}
		want := tt.code8[2:]
		if got := Code(rfcSecret, at); got != want {
			t.Errorf("Code at %d = %s, want %s", tt.unix, got, want)
		}
		if got := pquernaCode(t, rfcSecret, at, otp.DigitsSix); got != want {
			t.Errorf("pquerna/otp 6 digits at %d = %s, want %s", tt.unix, got, want)
		}
		if step, ok := Verify(rfcSecret, want, at, 0); !ok || step != tt.step {
			t.Errorf("Verify(%s) at %d = %#x, %v", want, tt.unix, step, ok)
		}
	}
}

// TestCodeMatchesPquerna: the app's codes (as pquerna/otp computes them)
// and ours agree for random secrets at many times.
func TestCodeMatchesPquerna(t *testing.T) {
	for i := range 200 {
		k, err := NewTOTP("Portico", "alice")
		if err != nil {
			t.Fatal(err)
		}
		at := time.Unix(int64(i)*1_000_003, 0) // about 11 days apart, odd offsets within steps
		if got, want := Code(k.Secret, at), pquernaCode(t, k.Secret, at, otp.DigitsSix); got != want {
			t.Fatalf("secret %x at %v: Code = %s, pquerna/otp = %s", k.Secret, at, got, want)
		}
	}
}

func TestVerifySkew(t *testing.T) {
	now := time.Unix(1111111111, 0) // step 0x23523ED, 1 s into it
	cur := Step(now)
	tests := []struct {
		offset int64 // steps between the app's clock and ours
		ok     bool
	}{
		{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}, {3, false},
	}
	for _, tt := range tests {
		c := Code(rfcSecret, now.Add(time.Duration(tt.offset)*Period))
		step, ok := Verify(rfcSecret, c, now, 0)
		if ok != tt.ok || (ok && step != cur+tt.offset) {
			t.Errorf("offset %+d (%s): Verify = %d, %v; want step %d, %v", tt.offset, c, step, ok, cur+tt.offset, tt.ok)
		}
	}
	// The window is whole steps, not ±30 s around now: the last second of
	// step cur-1 is still in it two steps later, a second after that not.
	edge := time.Unix((cur-1)*30, 0)
	for _, tt := range []struct {
		at time.Time
		ok bool
	}{{edge, true}, {edge.Add(59 * time.Second), true}, {edge.Add(60 * time.Second), false}} {
		if _, ok := Verify(rfcSecret, Code(rfcSecret, edge), tt.at, 0); ok != tt.ok {
			t.Errorf("code of step %d at %v: ok = %v", cur-1, tt.at.Unix(), ok)
		}
	}
}

func TestVerifyReuse(t *testing.T) {
	now := time.Unix(1234567890, 0)
	cur := Step(now)
	at := func(offset int64) string { return Code(rfcSecret, now.Add(time.Duration(offset)*Period)) }
	tests := []struct {
		name     string
		code     string
		lastStep int64
		ok       bool
	}{
		{"first use", at(0), 0, true},
		{"same code again", at(0), cur, false},
		{"older code after newer", at(-1), cur, false},
		{"next code after current", at(1), cur, true},
		{"current code after next", at(0), cur + 1, false},
		{"previous code, nothing newer used", at(-1), cur - 2, true},
		{"previous code used, current fresh", at(0), cur - 1, true},
		{"lastStep ahead of the window", at(1), cur + 5, false},
	}
	for _, tt := range tests {
		step, ok := Verify(rfcSecret, tt.code, now, tt.lastStep)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if ok && step <= tt.lastStep {
			t.Errorf("%s: step %d not after lastStep %d", tt.name, step, tt.lastStep)
		}
	}
	// Used as the broker will: each accepted step becomes lastStep.
	last := int64(0)
	for i, c := range []string{at(-1), at(-1), at(0), at(-1), at(0), at(1), at(1)} {
		step, ok := Verify(rfcSecret, c, now, last)
		if want := i == 0 || i == 2 || i == 5; ok != want {
			t.Fatalf("attempt %d: ok = %v, want %v", i, ok, want)
		}
		if ok {
			last = step
		}
	}
}

func TestVerifyInput(t *testing.T) {
	at := time.Unix(59, 0) // code 287082
	tests := []struct {
		code string
		ok   bool
	}{
		{"287082", true},
		{" 287082\n", true},
		{"\t287 082 ", true},
		{"2 8 7 0 8 2", true},
		{"28708", false},
		{"2870820", false},
		{"94287082", false}, // the RFC's 8 digits
		{"287082 0", false},
		{"28708a", false},
		{"-287082", false},
		{"+287082", false},
		{"287-082", false},
		{"287\x00082", false},
		{"２８７０８２", false}, // full-width digits
		{"٢٨٧٠٨٢", false}, // Arabic-Indic digits
		{"", false},
		{"      ", false},
		{strings.Repeat(" ", 60) + "287082", false}, // over the length bound
		{"287083", false},
	}
	for _, tt := range tests {
		if _, ok := Verify(rfcSecret, tt.code, at, 0); ok != tt.ok {
			t.Errorf("Verify(%q) = %v, want %v", tt.code, ok, tt.ok)
		}
	}
}

func TestVerifySecretAndTime(t *testing.T) {
	now := time.Unix(1111111111, 0)
	tests := []struct {
		name   string
		secret []byte
		now    time.Time
		ok     bool
	}{
		{"RFC secret", rfcSecret, now, true},
		{"128 bits", rfcSecret[:16], now, true},
		{"under 128 bits", rfcSecret[:15], now, false},
		{"empty secret", nil, now, false},
		{"before the epoch", rfcSecret, time.Unix(-1, 0), false},
	}
	for _, tt := range tests {
		if _, ok := Verify(tt.secret, Code(tt.secret, tt.now), tt.now, 0); ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
	}
	if _, ok := Verify(rfcSecret[:19], Code(rfcSecret, now), now, 0); ok {
		t.Error("a code for another secret verified")
	}
}

func TestNewTOTP(t *testing.T) {
	k, err := NewTOTP("Portico Dev", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(k.Secret) != SecretSize {
		t.Fatalf("secret is %d bytes", len(k.Secret))
	}
	u, err := url.Parse(k.URI)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for name, got := range map[string]string{
		"scheme": u.Scheme, "type": u.Host, "label": u.Path,
		"secret": q.Get("secret"), "issuer": q.Get("issuer"),
		"algorithm": q.Get("algorithm"), "digits": q.Get("digits"), "period": q.Get("period"),
	} {
		want := map[string]string{
			"scheme": "otpauth", "type": "totp", "label": "/Portico Dev:alice@example.com",
			"secret": b32.EncodeToString(k.Secret), "issuer": "Portico Dev",
			"algorithm": "SHA1", "digits": "6", "period": "30",
		}[name]
		if got != want {
			t.Errorf("key URI %s = %q, want %q", name, got, want)
		}
	}
	// What an app makes of the URI verifies.
	key, err := otp.NewKeyFromURL(k.URI)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	c, err := totp.GenerateCode(key.Secret(), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := Verify(k.Secret, c, now, 0); !ok {
		t.Error("the app's code does not verify")
	}

	mk := k.ManualKey()
	groups := strings.Split(mk, " ")
	if len(groups) != 8 || strings.Join(groups, "") != b32.EncodeToString(k.Secret) {
		t.Errorf("ManualKey = %q", mk)
	}
	for _, g := range groups {
		if len(g) != 4 {
			t.Errorf("ManualKey group %q", g)
		}
	}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if strings.Contains(s, groups[0]+groups[1]) || strings.Contains(s, string(k.Secret)) {
			t.Errorf("printing a TOTP shows its secret: %s", s)
		}
	}
	if other, _ := NewTOTP("Portico Dev", "alice@example.com"); bytes.Equal(other.Secret, k.Secret) {
		t.Error("two keys share a secret")
	}

	for _, tt := range []struct{ issuer, account string }{
		{"", "alice"}, {"Portico", ""}, {"Portico:Dev", "alice"}, {"Portico", "alice:1"},
	} {
		if _, err := NewTOTP(tt.issuer, tt.account); err == nil {
			t.Errorf("NewTOTP(%q, %q) succeeded", tt.issuer, tt.account)
		}
	}
}

func TestQRCode(t *testing.T) {
	k, err := NewTOTP("Portico", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{MinQRSize, 256, MaxQRSize} {
		b, err := k.QRCode(size)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if r := img.Bounds(); r.Dx() != size || r.Dy() != size {
			t.Errorf("size %d: image is %v", size, r)
		}
		black := 0
		for y := range size {
			for x := range size {
				if r, _, _, _ := img.At(x, y).RGBA(); r == 0 {
					black++
				}
			}
		}
		if black < size*size/5 || black > size*size*4/5 {
			t.Errorf("size %d: %d of %d pixels black, not a QR code", size, black, size*size)
		}
	}
	for _, size := range []int{0, -1, MinQRSize - 1, MaxQRSize + 1} {
		if _, err := k.QRCode(size); err == nil {
			t.Errorf("size %d accepted", size)
		}
	}
	if _, err := (TOTP{URI: "%zz"}).QRCode(256); err == nil {
		t.Error("a broken URI rendered")
	}
}
