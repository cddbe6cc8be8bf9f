package ldap_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

func TestLogin(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	c, logs := newConnector(t, baseConfig(s))
	ctx := context.Background()
	alice := testenv.LDAPAlice

	t.Run("identity", func(t *testing.T) {
		id := login(t, c, alice)
		want := sdk.Identity{
			Subject:           entryUUID(t, s, alice.DN()),
			Username:          "alice",
			PreferredUsername: "alice",
			Email:             alice.Mail,
			Name:              alice.Name,
			Groups:            []string{"admins", "developers"},
			Attributes:        map[string][]string{"dn": {alice.DN()}, "employeeNumber": {"1001"}},
		}
		data := id.ConnectorData
		id.ConnectorData = nil
		if !equalIdentity(id, want) {
			t.Errorf("identity\n got  %+v\n want %+v", id, want)
		}
		var cd struct{ DN string }
		if err := json.Unmarshal(data, &cd); err != nil || cd.DN != alice.DN() {
			t.Errorf("connector data %s: %v", data, err)
		}
	})

	tests := []struct {
		name, username, password string
		want                     string // uid of the identity, or "" for ErrInvalidCredentials
	}{
		{"by uid", "alice", alice.Password, "alice"},
		{"by mail", alice.Mail, alice.Password, "alice"},
		{"uid case-insensitive", "ALICE", alice.Password, "alice"},
		{"non-ASCII", testenv.LDAPZoe.UID, testenv.LDAPZoe.Password, testenv.LDAPZoe.UID},
		{"metacharacter in uid", testenv.LDAPStar.UID, testenv.LDAPStar.Password, testenv.LDAPStar.UID},
		{"wrong password", "alice", "bob-secret", ""},
		{"other user's password", "bob", alice.Password, ""},
		{"unknown user", "mallory", alice.Password, ""},
		{"empty password", "alice", "", ""},
		{"empty username", "", alice.Password, ""},
		{"shared mail, first password", testenv.LDAPCarol.Mail, testenv.LDAPCarol.Password, ""},
		{"shared mail, second password", testenv.LDAPCarl.Mail, testenv.LDAPCarl.Password, ""},
		{"disabled", "dave", testenv.LDAPDave.Password, ""},
		{"invalid UTF-8", "alice\xff", alice.Password, ""},
		{"too long", strings.Repeat("a", 1000), alice.Password, ""},
	}
	// Filter metacharacters must match only themselves. With alice's
	// password, an injection that reached her entry would log in as her.
	for _, u := range []string{"*", "(", ")", `\`, "\x00", "*)(uid=*", "alice*", "a*", "*lice", "ali*ce",
		"*)(|(uid=*", "alice)(uid=bob", "alice)", "(uid=alice)", "alice\x00", `alice\2a`, `\2a`, "star*"} {
		tests = append(tests, struct{ name, username, password, want string }{
			fmt.Sprintf("escaping %q", u), u, alice.Password, ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.Login(ctx, withGroups, tt.username, tt.password)
			if tt.want == "" {
				if err != sdk.ErrInvalidCredentials {
					t.Fatalf("Login(%q) = %q, %v; want ErrInvalidCredentials", tt.username, id.Username, err)
				}
				return
			}
			if err != nil || id.Username != tt.want {
				t.Fatalf("Login(%q) = %q, %v; want %q", tt.username, id.Username, err, tt.want)
			}
		})
	}

	t.Run("logs", func(t *testing.T) {
		l := logs.String()
		if !strings.Contains(l, "several entries") || !strings.Contains(l, testenv.LDAPCarol.DN()) || !strings.Contains(l, testenv.LDAPCarl.DN()) {
			t.Errorf("no operator-readable line for the shared mail:\n%s", l)
		}
		if !strings.Contains(l, "account disabled") {
			t.Errorf("disabled login not logged:\n%s", l)
		}
		for _, secret := range []string{alice.Password, testenv.LDAPCarol.Password, testenv.LDAPServicePassword} {
			if strings.Contains(l, secret) {
				t.Errorf("log contains the password %q:\n%s", secret, l)
			}
		}
	})

	t.Run("non-ASCII identity", func(t *testing.T) {
		id := login(t, c, testenv.LDAPZoe)
		if id.Name != "Zoë Ångström" || id.Username != "zoë" || !slices.Equal(id.Groups, []string{"staff"}) {
			t.Errorf("zoë: %+v", id)
		}
	})

	t.Run("no groups unless asked", func(t *testing.T) {
		id, err := c.Login(ctx, sdk.Scopes{}, alice.UID, alice.Password)
		if err != nil || id.Groups != nil {
			t.Errorf("Login without groups scope: groups %v, %v", id.Groups, err)
		}
	})

	t.Run("pooled connection is the service account again", func(t *testing.T) {
		for _, pw := range []string{alice.Password, "wrong"} {
			c.Login(ctx, withGroups, alice.UID, pw)
			who, _, err := ldap.PooledWhoAmI(ctx, c)
			if err != nil || who != "dn:"+testenv.LDAPServiceDN {
				t.Errorf("after a login with password %q, a pooled connection is %q, %v", pw, who, err)
			}
		}
	})
}

// An empty password never reaches a bind, although this slapd (allow
// bind_anon_cred) answers a DN with an empty password with success.
func TestEmptyPasswordNeverBinds(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	alice := testenv.LDAPAlice

	raw := s.RootConn(t)
	if err := raw.UnauthenticatedBind(alice.DN()); err != nil {
		t.Fatalf("precondition: slapd should accept an unauthenticated bind: %v", err)
	}

	c, _ := newConnector(t, baseConfig(s))
	var mu sync.Mutex
	var binds []string
	ldap.SetTestHookBind(c, func(dn string) { mu.Lock(); binds = append(binds, dn); mu.Unlock() })
	for _, u := range []string{alice.UID, alice.Mail, alice.DN()} {
		if _, err := c.Login(context.Background(), withGroups, u, ""); err != sdk.ErrInvalidCredentials {
			t.Errorf("Login(%q, \"\") = %v, want ErrInvalidCredentials", u, err)
		}
	}
	// Then a real login, whose bind shows the log has caught up.
	login(t, c, testenv.LDAPBob)
	mu.Lock()
	if !slices.Equal(binds, []string{testenv.LDAPBob.DN()}) {
		t.Errorf("user binds: %q, want only bob's", binds)
	}
	mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(s.Log(), `BIND dn="`+testenv.LDAPBob.DN()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var aliceBinds int
	for line := range strings.Lines(s.Log()) {
		if strings.Contains(line, `BIND dn="`+alice.DN()+`"`) {
			aliceBinds++
		}
	}
	if aliceBinds != 1 { // the precondition's, and no other
		t.Errorf("slapd saw %d binds as alice, want 1 (the test's own):\n%s", aliceBinds, s.Log())
	}
}

func TestEmailVerifiedAndAnonymousSearch(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.EmailVerified = true
	cfg.BindDN, cfg.BindPassword = "", ""
	c, _ := newConnector(t, cfg)
	id := login(t, c, testenv.LDAPAlice)
	if !id.EmailVerified || id.Email != testenv.LDAPAlice.Mail {
		t.Errorf("email %q verified %v", id.Email, id.EmailVerified)
	}
	if _, err := c.Login(context.Background(), withGroups, "alice", "wrong"); err != sdk.ErrInvalidCredentials {
		t.Errorf("wrong password: %v", err)
	}
	who, _, err := ldap.PooledWhoAmI(context.Background(), c)
	if err != nil || who != "" {
		t.Errorf("anonymous pool: a pooled connection is %q, %v; want anonymous", who, err)
	}
}

func TestNewChecksServiceAccount(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.BindPassword = "wrong"
	_, err := ldap.New(context.Background(), cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "config.bind_dn") {
		t.Errorf("New with a wrong service password: %v", err)
	}
	cfg = baseConfig(s)
	cfg.URL = "ldap://127.0.0.1:1" // nothing listens there
	c, logs := newConnector(t, cfg)
	if !strings.Contains(logs.String(), "unreachable at start") {
		t.Errorf("no warning for an unreachable directory:\n%s", logs)
	}
	if _, err := c.Login(context.Background(), withGroups, "alice", "alice-secret"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("Login against nothing: %v, want ErrUnavailable", err)
	}
}

// Many logins at once through a small pool: each gets its own identity.
func TestConcurrentLogins(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.PoolSize = 2
	c, _ := newConnector(t, cfg)
	users := []testenv.LDAPUser{testenv.LDAPAlice, testenv.LDAPBob, testenv.LDAPZoe, testenv.LDAPEve}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 40 {
		wg.Go(func() {
			u := users[i%len(users)]
			pw := u.Password
			if i%3 == 0 {
				pw = "wrong"
			}
			id, err := c.Login(context.Background(), withGroups, u.UID, pw)
			switch {
			case pw == "wrong" && err != sdk.ErrInvalidCredentials:
				errs <- fmt.Errorf("%s with a wrong password: %q, %v", u.UID, id.Username, err)
			case pw != "wrong" && (err != nil || id.Username != u.UID):
				errs <- fmt.Errorf("%s: got %q, %v", u.UID, id.Username, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func equalIdentity(a, b sdk.Identity) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
