package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	long := strings.Repeat("correct horse ", 30) // 420 bytes
	tests := []struct {
		name   string
		p      Policy
		pw     string
		inputs []string
		code   string // "" accepts
		limit  int
	}{
		{"good", Policy{}, "violet-tractor-umbrella", nil, "", 0},
		{"empty", Policy{}, "", nil, CodeTooShort, 8},
		{"seven", Policy{}, "vt9#kq2", nil, CodeTooShort, 8},
		{"eight", Policy{}, "vt9#kq2x", nil, "", 0},
		// Eight characters in NFD (e + combining acute) are 16 code
		// points but eight characters once composed.
		{"nfd counted composed", Policy{}, strings.Repeat("e\u0301", 7), nil, CodeTooShort, 8},
		{"multibyte counted in characters", Policy{}, "zürichsee", nil, "", 0},
		{"min length set", Policy{MinLength: 12}, "vt9#kq2xvt9", nil, CodeTooShort, 12},
		{"too long default", Policy{}, long, nil, CodeTooLong, 256},
		{"max length set", Policy{MaxLength: 1024}, long, nil, "", 0},
		{"max length in bytes", Policy{MaxLength: 10}, "ééééé1", nil, CodeTooLong, 10},
		{"control character", Policy{}, "violet\ttractor", nil, CodeInvalid, 0},
		{"nul", Policy{}, "violet\x00tractor", nil, CodeInvalid, 0},
		{"invalid utf-8", Policy{}, "violet\xfftractor", nil, CodeInvalid, 0},
		{"only spaces", Policy{}, "          ", nil, CodeInvalid, 0},
		{"only zero-width spaces", Policy{}, strings.Repeat("\u200b", 9), nil, CodeInvalid, 0},
		{"only direction marks", Policy{}, strings.Repeat("\u202e\ufeff", 5), nil, CodeInvalid, 0},
		{"spaces allowed", Policy{}, "violet tractor umbrella", nil, "", 0},
		{"common", Policy{}, "password", nil, CodeCommon, 0},
		{"common any case", Policy{}, "PassWord", nil, CodeCommon, 0},
		{"common deep in the list", Policy{}, "trustno1", nil, CodeCommon, 0},
		{"common allowed", Policy{AllowCommon: true}, "password", nil, "", 0},
		{"equals username", Policy{}, "Alice-Smith", []string{"alice-smith", "a@example.com"}, CodeContainsUsername, 0},
		{"contains username", Policy{}, "alice-smith-2024!", []string{"alice-smith"}, CodeContainsUsername, 0},
		{"equals email", Policy{}, "bob.jones@example.com", []string{"bob", "bob.jones@example.com"}, CodeContainsUsername, 0},
		{"contains email local part", Policy{}, "xxbob.jonesxx", []string{"bob", "bob.jones@example.com"}, CodeContainsUsername, 0},
		{"short username only when equal", Policy{}, "bobsleigh-at-dawn", []string{"bob"}, "", 0},
		{"short username equal", Policy{MinLength: 3}, "bob", []string{"bob"}, CodeContainsUsername, 0},
		{"empty inputs skipped", Policy{}, "violet-tractor-umbrella", []string{"", " "}, "", 0},
		{"weak", Policy{MinStrength: 3}, "abcdefgh1", nil, CodeWeak, 3},
		{"strong enough", Policy{MinStrength: 3}, "violet-tractor-umbrella", nil, "", 0},
		{"strength off", Policy{}, "abcdefgh1", nil, "", 0},
		{"long strong prefix", Policy{MinStrength: 4, MaxLength: 1024}, long, nil, "", 0},
		{"long repetitive", Policy{MinStrength: 2, MaxLength: 1024}, strings.Repeat("a", 500), nil, CodeWeak, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Check(tt.pw, tt.inputs...)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Check = %v, want accepted", err)
				}
				return
			}
			var v *Violation
			if !errors.As(err, &v) {
				t.Fatalf("Check = %v, want a *Violation %s", err, tt.code)
			}
			if v.Code != tt.code || v.Limit != tt.limit {
				t.Fatalf("Check = {%s %d} (%v), want {%s %d}", v.Code, v.Limit, v, tt.code, tt.limit)
			}
		})
	}
}

// The message says what to do and never repeats the password.
func TestViolationMessage(t *testing.T) {
	for pw, want := range map[string]string{
		"letmein1":   "common",
		"shrt":       "shorter than 8 characters",
		"bad\x7fpw!": "control character",
	} {
		err := Policy{}.Check(pw)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), pw) {
			t.Errorf("Check(%q) = %v, want a message with %q and without the password", pw, err, want)
		}
	}
}

// The journey's pages word a refusal from the code and its limit.
func TestPolicyCode(t *testing.T) {
	var coded interface{ PolicyCode() (string, []any) }
	if !errors.As(Policy{MinLength: 10}.Check("short"), &coded) {
		t.Fatal("a violation has no PolicyCode")
	}
	if code, args := coded.PolicyCode(); code != CodeTooShort || len(args) != 1 || args[0] != 10 {
		t.Fatalf("PolicyCode = %s %v, want too_short [10]", code, args)
	}
	for pw, want := range map[string]string{"password": CodeCommon, "abcdefgh1": CodeWeak} {
		errors.As(Policy{MinStrength: 3}.Check(pw), &coded)
		if code, args := coded.PolicyCode(); code != want || args != nil {
			t.Fatalf("PolicyCode = %s %v, want %s and no arguments", code, args, want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		p  Policy
		ok bool
	}{
		{Policy{}, true},
		{Policy{MinLength: 12, MaxLength: 64, MinStrength: 4}, true},
		{Policy{MaxLength: HardMaxLength}, true},
		{Policy{MaxLength: HardMaxLength + 1}, false},
		{Policy{MinLength: -1}, false},
		{Policy{MaxLength: -1}, false},
		{Policy{MinLength: 20, MaxLength: 10}, false},
		{Policy{MinLength: 300}, false}, // over the default maximum
		{Policy{MinStrength: 5}, false},
		{Policy{MinStrength: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tt.p, err, tt.ok)
		}
	}
}

func TestCommonList(t *testing.T) {
	// The list is zxcvbn's 30,000; a few of the most used and a word
	// that is on none.
	if n := len(common()); n < 25000 {
		t.Fatalf("common list has %d entries, want zxcvbn's 30,000", n)
	}
	for _, pw := range []string{"123456", "password", "qwerty", "iloveyou", "Dragon"} {
		if !IsCommon(pw) {
			t.Errorf("IsCommon(%q) = false", pw)
		}
	}
	if IsCommon("violet-tractor-umbrella") {
		t.Error("IsCommon of a pass phrase = true")
	}
}

// The username and email are words an attacker knows: the estimate
// scores a password built from them lower.
func TestStrengthUserInputs(t *testing.T) {
	pw := "Kowalczyk-Zebulon"
	without, with := Strength(pw), Strength(pw, "kowalczyk-zebulon")
	if with >= without {
		t.Fatalf("Strength with the user input = %d, without = %d: want lower with", with, without)
	}
}

func TestRuneOffset(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want int
	}{{"abc", 0, 0}, {"abc", 2, 2}, {"abc", 3, -1}, {"éa", 1, 2}, {"", 0, -1}} {
		if got := runeOffset(tt.s, tt.n); got != tt.want {
			t.Errorf("runeOffset(%q, %d) = %d, want %d", tt.s, tt.n, got, tt.want)
		}
	}
}

// FuzzCheck: any input, with any policy, is answered (no panic) with nil
// or a Violation whose code is known, and what is accepted keeps the
// policy's bounds.
func FuzzCheck(f *testing.F) {
	f.Add("password", "alice", 0, 0, 0)
	f.Add("violet-tractor-umbrella", "bob@example.com", 12, 64, 3)
	f.Add("e\u0301e\u0301e\u0301", "", 0, 0, 1)
	f.Add("\xff\xfe", "\x00", -3, 2000, 9)
	f.Fuzz(func(t *testing.T, pw, user string, minLen, maxLen, strength int) {
		p := Policy{MinLength: minLen % 64, MaxLength: maxLen % (HardMaxLength + 1), MinStrength: strength % (MaxStrength + 1)}
		if p.Validate() != nil {
			return
		}
		err := p.Check(pw, user)
		if err == nil {
			minRunes, maxBytes := p.Bounds()
			if len(pw) > maxBytes || !utf8.ValidString(pw) || utf8.RuneCountInString(pw) < minRunes && !strings.ContainsFunc(pw, isCombining) {
				t.Fatalf("Check(%q) accepted a password outside %+v", pw, p)
			}
			return
		}
		var v *Violation
		if !errors.As(err, &v) {
			t.Fatalf("Check(%q) = %T %v, want a *Violation", pw, err, err)
		}
		switch v.Code {
		case CodeInvalid, CodeTooShort, CodeTooLong, CodeContainsUsername, CodeCommon, CodeWeak:
		default:
			t.Fatalf("Check(%q): unknown code %q", pw, v.Code)
		}
	})
}

// isCombining is loose: NFC may compose more code points than combining
// marks, so the fuzz bound on the rune count is checked only without them.
func isCombining(r rune) bool { return r >= 0x300 }
