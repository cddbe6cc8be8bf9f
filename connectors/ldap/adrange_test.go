package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// Range retrieval against testenv.ADFake, a server that splits large
// multi-valued attributes as Active Directory does (slapd never does).

// adConfig is a connector config for Active Directory, as docs/connectors
// /ldap.md gives it, against the fake.
func adConfig(a *testenv.ADFake) ldap.Config {
	return ldap.Config{
		URL:            a.URL(),
		InsecureNoTLS:  true,
		BindDN:         testenv.ADServiceDN,
		BindPassword:   testenv.ADServicePassword,
		ConnectTimeout: ldap.Duration(2 * time.Second),
		Timeout:        ldap.Duration(5 * time.Second),
		UserSearch: ldap.UserSearch{
			BaseDN:                  testenv.ADUsersDN,
			Filter:                  "(objectClass=user)",
			UsernameAttributes:      []string{"sAMAccountName", "mail"},
			IDAttribute:             "objectGUID",
			NameAttribute:           "displayName",
			GroupsAttribute:         "memberOf",
			EnabledFilter:           testenv.ADEnabledFilter,
			AccountControlAttribute: "userAccountControl",
		},
	}
}

func wantGroups(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = testenv.ADGroupName(i)
	}
	return out
}

func TestADRangeRetrieval(t *testing.T) {
	// The connector keeps at most 1000 groups a person (groups.go
	// maxGroups), fewer than AD's default MaxValRange: the ranges add
	// groups only where MaxValRange is set lower, as the first cases do.
	for _, tt := range []struct {
		name          string
		groups, max   int
		wantGroups    int
		wantFollowUps []string
	}{
		{"1000 groups, MaxValRange 300", 1000, 300, 1000,
			[]string{"memberOf;range=300-*", "memberOf;range=600-*", "memberOf;range=900-*"}},
		// The last range is full: 666-* holds 333 values.
		{"999 groups, MaxValRange 333", 999, 333, 999, []string{"memberOf;range=333-*", "memberOf;range=666-*"}},
		// AD's default: 0-1499, then 1500-* with the rest; 1000 kept.
		{"3000 groups", 3000, 0, 1000, []string{"memberOf;range=1500-*"}},
		// 0-1499, 1500-2999, then 3000-* with one value.
		{"3001 groups", 3001, 0, 1000, []string{"memberOf;range=1500-*", "memberOf;range=3000-*"}},
		// Not split: no follow-up.
		{"1000 groups, MaxValRange 1000", 1000, 1000, 1000, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := testenv.StartADFake(t, testenv.ADFakeOptions{Groups: tt.groups, MaxValRange: tt.max})
			c, _ := newConnector(t, adConfig(a))
			id, err := c.Login(context.Background(), withGroups, testenv.ADJane.UID, testenv.ADJane.Password)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if id.Subject != testenv.ADJaneSubject || id.Email != testenv.ADJane.Mail || id.Name != testenv.ADJane.Name {
				t.Errorf("identity = %q %q %q", id.Subject, id.Email, id.Name)
			}
			if want := wantGroups(tt.wantGroups); !slices.Equal(id.Groups, want) {
				t.Errorf("%d groups, want %d", len(id.Groups), len(want))
			}
			if got := a.RangeRequests(); !slices.Equal(got, tt.wantFollowUps) {
				t.Errorf("range requests = %q, want %q", got, tt.wantFollowUps)
			}
			// Refresh reads the user again by objectGUID, groups in ranges.
			again, err := c.Refresh(context.Background(), withGroups, id)
			if err != nil {
				t.Fatalf("Refresh: %v", err)
			}
			if len(again.Groups) != tt.wantGroups {
				t.Errorf("Refresh: %d groups, want %d", len(again.Groups), tt.wantGroups)
			}
		})
	}
}

// TestADBind: a wrong password gets AD's "data 52e", which is an invalid
// login, not an unavailable directory.
func TestADBind(t *testing.T) {
	a := testenv.StartADFake(t, testenv.ADFakeOptions{Groups: 2})
	c, _ := newConnector(t, adConfig(a))
	for _, tt := range []struct{ user, pw string }{
		{testenv.ADJane.UID, "wrong"},
		{testenv.ADJane.UID, testenv.ADServicePassword},
		{"nobody", testenv.ADJane.Password},
	} {
		if _, err := c.Login(context.Background(), withGroups, tt.user, tt.pw); err != sdk.ErrInvalidCredentials {
			t.Errorf("Login(%s, %s) = %v, want ErrInvalidCredentials", tt.user, tt.pw, err)
		}
	}
	if _, err := c.Login(context.Background(), withGroups, testenv.ADJane.Mail, testenv.ADJane.Password); err != nil {
		t.Errorf("Login by mail: %v", err)
	}
}

// TestADRangeMisbehaving: a server whose ranges do not add up makes the
// login fail with an error that says so (or, for a range that creeps
// forward, stop at the request cap), never loop.
func TestADRangeMisbehaving(t *testing.T) {
	// 1000 groups in ranges of 500: under the connector's 1000 groups.
	const max = 500
	first := func(all [][]byte) [][]byte { return all[:max] }
	for _, tt := range []struct {
		name     string
		ranges   func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool)
		wantErr  string // "" for a login that succeeds with fewer groups
		requests int    // follow-up requests expected
	}{
		{"range does not advance", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			return attr + ";range=0-499", first(all), true
		}, "answered another range", 1},
		{"range without values", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			if lo == 0 {
				return "", nil, false
			}
			return fmt.Sprintf("%s;range=%d-%d", attr, lo, lo+499), nil, true
		}, "sent 0", 1},
		{"follow-up not ranged", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			if lo == 0 {
				return "", nil, false
			}
			return attr, all[lo:], true
		}, "answered another range", 1},
		{"huge claimed range", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			if lo == 0 {
				return attr + ";range=0-999999998", first(all), true
			}
			return fmt.Sprintf("%s;range=%d-*", attr, lo), nil, true
		}, "claims 999999999 values", 0},
		{"first range not from 0", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			return attr + ";range=500-999", all[500:], true
		}, "starts at 500", 0},
		// One value a time: 200 follow-ups, then the rest is left out.
		{"range creeps", func(attr string, lo, hi int, all [][]byte) (string, [][]byte, bool) {
			if lo == 0 {
				return "", nil, false
			}
			return fmt.Sprintf("%s;range=%d-%d", attr, lo, lo), all[lo : lo+1], true
		}, "", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := testenv.StartADFake(t, testenv.ADFakeOptions{Groups: 1000, MaxValRange: max, Ranges: tt.ranges})
			c, logs := newConnector(t, adConfig(a))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			id, err := c.Login(ctx, withGroups, testenv.ADJane.UID, testenv.ADJane.Password)
			if n := len(a.RangeRequests()); n != tt.requests {
				t.Errorf("%d follow-up requests, want %d", n, tt.requests)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Login: %v", err)
				}
				if want := max + tt.requests; len(id.Groups) != want {
					t.Errorf("%d groups, want %d", len(id.Groups), want)
				}
				if !strings.Contains(logs.String(), "more values than Portico reads") {
					t.Errorf("no warning logged:\n%s", logs)
				}
				return
			}
			if err == nil || !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Login = %v, want ErrUnavailable saying %q", err, tt.wantErr)
			}
		})
	}
}
