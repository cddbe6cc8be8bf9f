package identity

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/core"
	"github.com/portico-idp/portico/broker/mapping"
	"github.com/portico-idp/portico/sdk"
)

// small are limits a test can reach with a few values.
var small = Limits{MaxClaimLength: 32, MaxGroups: 3, MaxAttributes: 2, MaxAttributeValues: 2, MaxSize: 600}

// TestCheckIdentity: what passes (Unicode names, multi-line attribute
// values, values exactly at the limits) and what is refused, by which
// field, for each rule.
func TestCheckIdentity(t *testing.T) {
	ok := sdk.Identity{Subject: "s-1", Username: "zoe", PreferredUsername: "zoe", Email: "zoe@example.org", Name: "Zoë Ürümqi 山田",
		Groups: []string{"staff", "Ünits"}, Attributes: map[string][]string{"dept": {"R&D"}}, ConnectorData: []byte{0, 1, 2}}
	with := func(f func(*sdk.Identity)) sdk.Identity {
		id := ok
		id.Groups = append([]string(nil), ok.Groups...)
		id.Attributes = map[string][]string{"dept": {"R&D"}}
		f(&id)
		return id
	}
	for _, tc := range []struct {
		name          string
		lim           Limits
		id            sdk.Identity
		field, reason string // empty: accepted
	}{
		{name: "ordinary", lim: small, id: ok},
		{name: "defaults", lim: Limits{}.withDefaults(), id: ok},
		{name: "scripts and emoji, joiners included", lim: Limits{}.withDefaults(), id: with(func(id *sdk.Identity) {
			id.Name, id.Groups = "محمد‌علی 👩‍💻 Ελένη", []string{"Ñandú", "日本語"}
		})},
		{name: "claim exactly at the limit, multi-byte", lim: small, id: with(func(id *sdk.Identity) { id.Name = strings.Repeat("山", 10) + "ab" })},
		{name: "groups and values at the limits", lim: small, id: with(func(id *sdk.Identity) {
			id.Groups = []string{"a", "b", "c"}
			id.Attributes = map[string][]string{"x": {"1", "2"}, "y": {"3"}}
		})},
		{name: "an attribute value spans lines", lim: small, id: with(func(id *sdk.Identity) { id.Attributes["addr"] = []string{"1 Main St\r\n\tSpringfield"} })},
		{name: "empty subject", lim: small, id: with(func(id *sdk.Identity) { id.Subject = "" }), field: "subject", reason: "is empty"},
		{name: "NUL", lim: small, id: with(func(id *sdk.Identity) { id.PreferredUsername = "admin\x00" }), field: "preferred_username", reason: "U+0000"},
		{name: "ESC", lim: small, id: with(func(id *sdk.Identity) { id.Name = "Eve\x1b[2J" }), field: "name", reason: "U+001B"},
		{name: "DEL", lim: small, id: with(func(id *sdk.Identity) { id.Username = "zoe\x7f" }), field: "username", reason: "U+007F"},
		{name: "C1", lim: small, id: with(func(id *sdk.Identity) { id.Email = "zoe\u0085@example.org" }), field: "email", reason: "U+0085"},
		{name: "a tab in a name", lim: small, id: with(func(id *sdk.Identity) { id.Name = "Zoë\tÜ" }), field: "name", reason: "U+0009"},
		{name: "a newline in a group", lim: small, id: with(func(id *sdk.Identity) { id.Groups[1] = "admins\nroot" }), field: "groups[1]", reason: "U+000A"},
		{name: "invalid UTF-8", lim: small, id: with(func(id *sdk.Identity) { id.Groups[1] = "caf\xe9" }), field: "groups[1]", reason: "not valid UTF-8"},
		{name: "a control character in an attribute name", lim: small, id: with(func(id *sdk.Identity) { id.Attributes = map[string][]string{"de\rpt": {"x"}} }),
			field: "attributes", reason: "a name that contains a control character (U+000D)"},
		{name: "NUL in an attribute value", lim: small, id: with(func(id *sdk.Identity) { id.Attributes["dept"] = []string{"ok", "R\x00D"} }),
			field: "attributes.dept[1]", reason: "U+0000"},
		{name: "claim too long", lim: small, id: with(func(id *sdk.Identity) { id.Name = strings.Repeat("山", 10) + "abc" }),
			field: "name", reason: "is 33 bytes, more than the limit of 32"},
		{name: "subject longer than a store key", lim: Limits{}.withDefaults(), id: with(func(id *sdk.Identity) { id.Subject = strings.Repeat("s", 1025) }),
			field: "subject", reason: "more than the limit of 1024"},
		{name: "email longer than a store key", lim: Limits{}.withDefaults(), id: with(func(id *sdk.Identity) { id.Email = strings.Repeat("e", 1025) }),
			field: "email", reason: "more than the limit of 1024"},
		{name: "too many groups", lim: small, id: with(func(id *sdk.Identity) { id.Groups = []string{"a", "b", "c", "d"} }),
			field: "groups", reason: "are 4, more than the limit of 3"},
		{name: "too many attributes", lim: small, id: with(func(id *sdk.Identity) { id.Attributes["b"], id.Attributes["c"] = []string{"1"}, []string{"2"} }),
			field: "attributes", reason: "are 3, more than the limit of 2"},
		{name: "too many values", lim: small, id: with(func(id *sdk.Identity) { id.Attributes["dept"] = []string{"1", "2", "3"} }),
			field: "attributes.dept", reason: "has 3 values, more than the limit of 2"},
		{name: "too big in all", lim: Limits{MaxClaimLength: 100, MaxGroups: 100, MaxSize: 2000}.withDefaults(), id: with(func(id *sdk.Identity) {
			id.Groups = nil
			for i := range 30 {
				id.Groups = append(id.Groups, strings.Repeat("g", 60)+strconv.Itoa(i))
			}
		}), field: "size", reason: "over the limit of 2000 bytes"},
		// JSON escapes < > & six bytes each: the size counts them so.
		{name: "escapes count", lim: Limits{MaxClaimLength: 300, MaxSize: 1000}.withDefaults(), id: with(func(id *sdk.Identity) {
			id.Name = strings.Repeat("<", 150)
		}), field: "size", reason: "over the limit of 1000 bytes"},
		{name: "connector data too big", lim: small, id: with(func(id *sdk.Identity) { id.ConnectorData = make([]byte, 600) }),
			field: "connector_data", reason: "600 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkIdentity(tc.lim, tc.id)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *Error
			if !errors.As(err, &ie) || !errors.Is(err, core.ErrInvalidIdentity) {
				t.Fatalf("error %v, want an Error", err)
			}
			if ie.Field != tc.field || !strings.Contains(ie.Problem, tc.reason) {
				t.Errorf("refused at %q: %q; want %q: %q", ie.Field, ie.Problem, tc.field, tc.reason)
			}
		})
	}
}

// TestAdmitMapped: a mapping's result is held to the limits too, and
// whatever admit accepts is what resolveUser gets, mapped once.
func TestAdmitMapped(t *testing.T) {
	gather, err := mapping.Compile("corp", []mapping.Rule{
		{Claim: "name", From: []string{"attributes.cn"}},
		{Claim: "everything", From: []string{"attributes.blob"}, Split: ",", Multi: true},
	}, mapping.Groups{})
	if err != nil {
		t.Fatal(err)
	}
	b := New(Options{
		Mappings: map[string]*mapping.Mapper{"corp": gather},
		Limits:   map[string]Limits{"corp": {MaxClaimLength: 128, MaxSize: 1000}},
	}, nil, nil, nil, nil)
	// Each value is short enough; split, the blob makes more claim
	// values than MaxAttributeValues allows.
	blob := strings.TrimSuffix(strings.Repeat("v,", 20), ",")
	var parts []string
	for i := range 30 {
		parts = append(parts, "p"+strconv.Itoa(i))
	}
	for _, tc := range []struct {
		name  string
		attrs map[string][]string
		field string
	}{
		{"mapped name", map[string][]string{"cn": {"Zoë"}}, ""},
		{"a multi-line value mapped to the name", map[string][]string{"cn": {"Zoë\nRoot"}}, "name (after claim_mapping)"},
		{"duplicates collapse", map[string][]string{"blob": {blob}}, ""},
		{"a blob split into thirty values", map[string][]string{"blob": {strings.Join(parts, ",")}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := b.Admit("corp", sdk.Identity{Subject: "s", Attributes: tc.attrs})
			var ie *Error
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &ie) || ie.Field != tc.field):
				t.Fatalf("error %v, want one at %s", err, tc.field)
			case err == nil && a.id.Subject != "s":
				t.Errorf("Admitted %+v", a.id)
			}
		})
	}
	b.opts.Limits["corp"] = Limits{MaxAttributeValues: 25}
	_, err = b.Admit("corp", sdk.Identity{Subject: "s", Attributes: map[string][]string{"blob": {strings.Join(parts, ",")}}})
	var ie *Error
	if !errors.As(err, &ie) || ie.Field != "attributes.everything (after claim_mapping)" {
		t.Errorf("30 values of a mapped claim, limit 25: %v", err)
	}
}

// fuzzLimits are small, so that the fuzzer reaches every limit.
var fuzzLimits = Limits{MaxClaimLength: 40, MaxGroups: 5, MaxAttributes: 3, MaxAttributeValues: 4, MaxSize: 700}

// FuzzCheckIdentity checks identities with arbitrary strings (seeds in
// testdata/fuzz/FuzzCheckIdentity): checkIdentity never panics and is
// deterministic; what it accepts is valid UTF-8 without control
// characters (tab, CR and LF only in attribute values), within every
// limit, and no bigger as JSON than MaxSize; what it refuses it refuses
// with an error fit for a log line (no control character, short) that
// quotes no value; and raising the limits never refuses what lower ones
// accepted.
func FuzzCheckIdentity(f *testing.F) {
	f.Add("s-1", "zoe", "Zoë Ürümqi 山田", "staff", uint8(2), "dept", "R&D", uint8(1), []byte("sealed"))
	f.Add("s", "admin\x00", "Eve\x1b[2J", "g", uint8(9), "a\r", "x\x85", uint8(6), []byte(nil))
	f.Fuzz(func(t *testing.T, subject, username, name, group string, nGroups uint8, attr, value string, nValues uint8, data []byte) {
		id := sdk.Identity{Subject: subject, Username: username, PreferredUsername: strings.ToUpper(username),
			Email: username + "@" + group, Name: name, ConnectorData: data}
		for i := range int(nGroups % 8) {
			id.Groups = append(id.Groups, group+strconv.Itoa(i))
		}
		if attr != "" {
			id.Attributes = map[string][]string{attr: nil, "b<" + attr: {value}}
			for i := range int(nValues % 7) {
				id.Attributes[attr] = append(id.Attributes[attr], value+strings.Repeat("&", i))
			}
		}
		err := checkIdentity(fuzzLimits, id)
		if again := checkIdentity(fuzzLimits, id); (err == nil) != (again == nil) || (err != nil && err.Error() != again.Error()) {
			t.Fatalf("not deterministic: %v, then %v", err, again)
		}
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || ie.Field == "" || ie.Problem == "" {
				t.Fatalf("error %v", err)
			}
			msg := err.Error()
			if !utf8.ValidString(msg) || strings.IndexFunc(msg, unicode.IsControl) >= 0 || len(msg) > 250 {
				t.Fatalf("error unfit for a log: %q", msg)
			}
			for _, v := range []string{subject, username, name, value} {
				if len(v) >= 8 && strings.Contains(msg, v) {
					t.Fatalf("error %q quotes a value", msg)
				}
			}
			return
		}
		accepted(t, fuzzLimits, id)
		bigger := Limits{MaxClaimLength: 2 * fuzzLimits.MaxClaimLength, MaxGroups: 2 * fuzzLimits.MaxGroups,
			MaxAttributes: 2 * fuzzLimits.MaxAttributes, MaxAttributeValues: 2 * fuzzLimits.MaxAttributeValues, MaxSize: 2 * fuzzLimits.MaxSize}
		if err := checkIdentity(bigger, id); err != nil {
			t.Fatalf("refused under higher limits: %v", err)
		}
	})
}

// accepted checks, independently of checkIdentity, that id keeps lim.
func accepted(t *testing.T, lim Limits, id sdk.Identity) {
	t.Helper()
	clean := func(field, s string, max int, multiline bool) {
		bad := strings.IndexFunc(s, func(r rune) bool {
			return unicode.IsControl(r) && !(multiline && (r == '\t' || r == '\n' || r == '\r'))
		})
		if !utf8.ValidString(s) || bad >= 0 || len(s) > max {
			t.Fatalf("accepted %s %q", field, s)
		}
	}
	key := min(lim.MaxClaimLength, maxKeyLength)
	if id.Subject == "" {
		t.Fatal("accepted an empty subject")
	}
	clean("subject", id.Subject, key, false)
	clean("email", id.Email, key, false)
	for _, s := range []string{id.Username, id.PreferredUsername, id.Name} {
		clean("claim", s, lim.MaxClaimLength, false)
	}
	if len(id.Groups) > lim.MaxGroups || len(id.Attributes) > lim.MaxAttributes {
		t.Fatalf("accepted %d groups, %d attributes", len(id.Groups), len(id.Attributes))
	}
	for _, g := range id.Groups {
		clean("group", g, lim.MaxClaimLength, false)
	}
	for k, vs := range id.Attributes {
		clean("attribute name", k, lim.MaxClaimLength, false)
		if len(vs) > lim.MaxAttributeValues {
			t.Fatalf("accepted %d values", len(vs))
		}
		for _, v := range vs {
			clean("attribute value", v, lim.MaxClaimLength, true)
		}
	}
	if js, _ := json.Marshal(id); len(js) > lim.MaxSize {
		t.Fatalf("accepted an identity of %d bytes as JSON, limit %d", len(js), lim.MaxSize)
	}
}

// TestAdmitGroups: empty and repeated groups are dropped; every other
// name is kept exactly, spaces included.
func TestAdmitGroups(t *testing.T) {
	b := New(Options{}, nil, nil, nil, nil)
	a, err := b.Admit("c", sdk.Identity{Subject: "s", Groups: []string{"g", "", " lead", "g", "trail ", "g"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"g", " lead", "trail "}; !slices.Equal(a.id.Groups, want) {
		t.Errorf("groups %q, want %q", a.id.Groups, want)
	}
}
