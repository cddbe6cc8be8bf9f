package storecopy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/postgres"
	"github.com/portico-idp/portico/testenv"
	"github.com/portico-idp/portico/tokensvc"
)

// openPostgres opens a store on a schema of its own, dropped when the test
// ends; without a server testenv.PostgresSchema skips the test loudly, or
// fails it under CI=true.
func openPostgres(t *testing.T) store.Store {
	t.Helper()
	schema := testenv.PostgresSchema(t)
	s, err := postgres.Open(t.Context(), postgres.Options{DSN: testenv.PostgresDSN(), Schema: schema, CleanupInterval: -1})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openBadger(t *testing.T) store.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("badger.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const (
	issuer   = "https://id.example.com"
	clientID = "rp"
)

func tokens(t *testing.T, st store.Store) *tokensvc.Service {
	t.Helper()
	tok, err := tokensvc.New(t.Context(), st, tokensvc.Config{Issuer: issuer})
	if err != nil {
		t.Fatalf("tokensvc.New: %v", err)
	}
	return tok
}

// source is a store filled the way a server fills it, and the tokens it
// handed out.
type source struct {
	st store.Store
	// Refresh tokens: live (never used), rotated (its second token),
	// rotatedOld (the first token of rotated), revoked.
	live, rotated, rotatedOld, revoked string
	access                             []string // access tokens of live sessions
	want                               Counts
}

func fill(t *testing.T) source {
	t.Helper()
	ctx := t.Context()
	st := openBadger(t)
	tok := tokens(t, st)
	now := time.Now().UTC().Truncate(time.Microsecond)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateClient(ctx, store.Client{ID: clientID, Name: "RP", SecretHash: "hash", RedirectURIs: []string{"https://rp.example.com/cb"},
		GrantTypes: []string{"authorization_code", "refresh_token"}, RefreshIdleTTL: time.Hour}))
	must(st.CreateLocalAccount(ctx, store.LocalAccount{ID: "acc1", Username: "carol", Email: "Carol@Example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", CreatedAt: now}))
	carol := store.User{ID: "u1", Username: "carol", Email: "carol@example.com", Groups: []string{"staff"},
		Attributes: map[string][]string{"dept": {"ops"}}, CreatedAt: now}
	must(st.CreateUser(ctx, carol,
		store.Identity{ConnectorID: "local", Subject: "acc1", UserID: "u1", Username: "carol", LastSeen: now},
		store.Identity{ConnectorID: "github", Subject: "42", UserID: "u1", VerifiedEmail: "carol@example.com",
			ConnectorData: []byte("sealed"), LastSeen: now}))
	// An administrator's change: the user is at Version 1, which the copy
	// must keep for a later compare-and-swap.
	carol.Roles, carol.LastLogin = []string{"admin"}, now
	must(st.UpdateUser(ctx, carol))
	must(st.CreateUser(ctx, store.User{ID: "u2", Username: "dave", CreatedAt: now},
		store.Identity{ConnectorID: "local", Subject: "acc2", UserID: "u2", LastSeen: now}))

	grant := func(user string, refresh bool) tokensvc.Tokens {
		t.Helper()
		ts, err := tok.Issue(ctx, tokensvc.Grant{Subject: user, ClientID: clientID, Scopes: []string{"openid", "offline_access"},
			ConnectorID: "local", AuthTime: now, AMR: []string{"pwd"}, IDToken: true, Session: true, Refresh: refresh})
		must(err)
		return ts
	}
	var s source
	s.st = st
	live := grant("u1", true)
	s.live = live.RefreshToken
	first := grant("u2", true)
	f, err := tok.Redeem(ctx, clientID, first.RefreshToken, tokensvc.Policy{})
	must(err)
	rotated, err := tok.Rotate(ctx, f, tokensvc.Grant{Scopes: f.Scopes})
	must(err)
	s.rotated, s.rotatedOld = rotated.RefreshToken, first.RefreshToken
	revoked := grant("u1", true)
	must(tok.RevokeFamily(ctx, revoked.FamilyID))
	s.revoked = revoked.RefreshToken
	noRefresh := grant("u2", false) // a login without offline_access
	s.access = []string{live.AccessToken, rotated.AccessToken, noRefresh.AccessToken}

	put := func(kind, key string, expiry time.Time) {
		t.Helper()
		must(st.PutRecord(ctx, store.Record{Kind: kind, Key: key, Value: []byte(`{"k":"` + key + `"}`), Expiry: expiry}))
	}
	put("mfa", "u1", time.Time{})
	put("consent", "u1/"+clientID, now.Add(time.Hour))
	put("consent", "u2/"+clientID, time.Time{})
	put("connector", "ldap2", time.Time{})
	put("sso", "u1/session", now.Add(time.Hour))      // not copied
	put("throttle", "acct/carol", now.Add(time.Hour)) // not copied

	// Audit events, three at one instant so that a page boundary falls
	// among ties (the test's page size is 2), and one expired.
	var events []store.AuditEvent
	for i := range 7 {
		at := now.Add(-time.Duration(7-i) * time.Minute)
		if i >= 2 && i <= 4 {
			at = now.Add(-5 * time.Minute)
		}
		events = append(events, store.AuditEvent{ID: fmt.Sprintf("e%d", i), Time: at, Type: "login.success",
			UserID: "u1", ClientID: clientID, Details: map[string]string{"n": fmt.Sprint(i)}, Expiry: now.Add(time.Hour)})
	}
	events = append(events, store.AuditEvent{ID: "gone", Time: now.Add(-time.Hour), Type: "token.issue", Expiry: now.Add(-time.Minute)})
	must(st.CreateAuditEvents(ctx, events...))

	keys, err := st.GetKeys(ctx)
	must(err)
	s.want = Counts{
		Users: Count{Copied: 2}, Identities: Count{Copied: 3}, LocalAccounts: Count{Copied: 1}, Clients: Count{Copied: 1},
		SigningKeys:     Count{Copied: len(keys.Keys)},
		RefreshFamilies: Count{Copied: 3, Skipped: 1}, RefreshTokens: Count{Copied: 2},
		AuditEvents: Count{Copied: 7},
		Records:     map[string]Count{"mfa": {Copied: 1}, "consent": {Copied: 2}, "connector": {Copied: 1}},
	}
	return s
}

// TestCopy fills a badger store through the store and the token service,
// copies it to an empty badger and an empty postgres store, and checks
// counts, contents and that what a client holds still works: the refresh
// tokens refresh, the access tokens verify, and compare-and-swap goes on.
func TestCopy(t *testing.T) {
	defer func(n int) { auditPage = n }(auditPage)
	auditPage = 2

	for _, target := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"badger", openBadger},
		{"postgres", openPostgres},
	} {
		t.Run(target.name, func(t *testing.T) {
			ctx := t.Context()
			dst := target.open(t)
			src := fill(t)

			got, err := Copy(ctx, src.st, dst, Options{})
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if !reflect.DeepEqual(got, src.want) {
				t.Fatalf("counts:\n got %+v\nwant %+v", got, src.want)
			}
			sameContents(t, src.st, dst)
			stillWorks(t, src, dst)

			// A second run is refused, saying why; with Merge it finds
			// everything there.
			_, err = Copy(ctx, src.st, dst, Options{})
			if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "2 users, 1 clients") {
				t.Fatalf("second Copy: %v, want ErrNotEmpty saying what is there", err)
			}
			again, err := Copy(ctx, src.st, dst, Options{Merge: true})
			if err != nil {
				t.Fatalf("Copy with Merge: %v", err)
			}
			for _, r := range again.Rows() {
				if r.Copied != 0 {
					t.Errorf("merge copied %d %s again", r.Copied, r.Kind)
				}
			}
			if again.Users.Existing != 2 || again.AuditEvents.Existing != 7 || again.Records["consent"].Existing != 2 {
				t.Errorf("merge counts %+v", again)
			}
		})
	}
}

// sameContents compares what the copy promises to keep, Versions included
// but for records and keys (created anew at Version 1).
func sameContents(t *testing.T, src, dst store.Store) {
	t.Helper()
	ctx := t.Context()
	same := func(what string, a, b any, err1, err2 error) {
		t.Helper()
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v / %v", what, err1, err2)
		}
		if !reflect.DeepEqual(canon(t, a), canon(t, b)) {
			ja, _ := json.MarshalIndent(a, "", " ")
			jb, _ := json.MarshalIndent(b, "", " ")
			t.Errorf("%s differ:\nsource %s\ntarget %s", what, ja, jb)
		}
	}
	users, err1 := src.ListUsers(ctx)
	u2, err2 := dst.ListUsers(ctx)
	same("users", sorted(users, func(u store.User) string { return u.ID }), sorted(u2, func(u store.User) string { return u.ID }), err1, err2)
	for _, u := range users {
		a, err1 := src.ListIdentities(ctx, u.ID)
		b, err2 := dst.ListIdentities(ctx, u.ID)
		key := func(i store.Identity) string { return i.ConnectorID + "/" + i.Subject }
		same("identities of "+u.ID, sorted(a, key), sorted(b, key), err1, err2)

		fa, err1 := src.ListRefreshFamilies(ctx, u.ID)
		fb, err2 := dst.ListRefreshFamilies(ctx, u.ID)
		fa = slices.DeleteFunc(fa, func(f store.RefreshFamily) bool { return f.Revoked })
		fkey := func(f store.RefreshFamily) string { return f.ID }
		same("refresh families of "+u.ID, sorted(fa, fkey), sorted(fb, fkey), err1, err2)
		for _, f := range fa {
			if f.Current == "" {
				continue
			}
			ta, err1 := src.GetRefreshToken(ctx, f.Current)
			tb, err2 := dst.GetRefreshToken(ctx, f.Current)
			same("refresh token of "+f.ID, ta, tb, err1, err2)
		}
	}
	accs, err1 := src.ListLocalAccounts(ctx)
	accs2, err2 := dst.ListLocalAccounts(ctx)
	same("local accounts", accs, accs2, err1, err2)
	cls, err1 := src.ListClients(ctx)
	cls2, err2 := dst.ListClients(ctx)
	same("clients", cls, cls2, err1, err2)

	ka, err1 := src.GetKeys(ctx)
	kb, err2 := dst.GetKeys(ctx)
	if kb.Version != 1 {
		t.Errorf("target key set at Version %d, want 1", kb.Version)
	}
	same("signing keys", ka.Keys, kb.Keys, err1, err2)

	ea, err1 := src.ListAuditEvents(ctx, time.Time{}, 0)
	eb, err2 := dst.ListAuditEvents(ctx, time.Time{}, 0)
	same("audit events", ea, eb, err1, err2)

	for _, kind := range []string{"mfa", "consent", "connector"} {
		ra, err1 := src.ListRecords(ctx, kind, "")
		rb, err2 := dst.ListRecords(ctx, kind, "")
		for _, r := range rb {
			if r.Version != 1 {
				t.Errorf("%s record %s at Version %d, want 1", kind, r.Key, r.Version)
			}
		}
		unversioned := func(rs []store.Record) []store.Record {
			rs = sorted(rs, func(r store.Record) string { return r.Key })
			for i := range rs {
				rs[i].Version = 0
			}
			return rs
		}
		same(kind+" records", unversioned(ra), unversioned(rb), err1, err2)
	}
	for _, kind := range []string{"sso", "throttle"} {
		if rs, err := dst.ListRecords(ctx, kind, ""); err != nil || len(rs) != 0 {
			t.Errorf("%s records copied: %v %v", kind, rs, err)
		}
	}
}

// stillWorks uses the target as a server would after the move.
func stillWorks(t *testing.T, src source, dst store.Store) {
	t.Helper()
	ctx := t.Context()
	tok := tokens(t, dst)
	for _, rt := range []string{src.live, src.rotated} {
		f, err := tok.Redeem(ctx, clientID, rt, tokensvc.Policy{})
		if err != nil {
			t.Fatalf("a refresh token issued before the copy: %v", err)
		}
		if _, err := tok.Rotate(ctx, f, tokensvc.Grant{Scopes: f.Scopes}); err != nil {
			t.Fatalf("rotate after the copy: %v", err)
		}
	}
	for _, rt := range []string{src.revoked, src.rotatedOld} {
		if _, err := tok.Redeem(ctx, clientID, rt, tokensvc.Policy{}); !errors.Is(err, tokensvc.ErrInvalidGrant) {
			t.Errorf("revoked or used refresh token: %v, want ErrInvalidGrant", err)
		}
	}
	for i, at := range src.access {
		if _, err := tok.VerifyAccess(ctx, at); err != nil {
			t.Errorf("access token %d issued before the copy: %v", i, err)
		}
	}
	// Compare-and-swap goes on from the copied versions.
	u, err := dst.GetUser(ctx, "u1")
	if err != nil || u.Version != 1 {
		t.Fatalf("user u1: Version %d, %v; want 1", u.Version, err)
	}
	u.Name = "Carol"
	if err := dst.UpdateUser(ctx, u); err != nil {
		t.Errorf("UpdateUser after the copy: %v", err)
	}
	rec, err := dst.GetRecord(ctx, "mfa", "u1")
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.PutRecord(ctx, rec); err != nil {
		t.Errorf("PutRecord after the copy: %v", err)
	}
	if err := tok.RotateKeys(ctx); err != nil {
		t.Errorf("RotateKeys after the copy: %v", err)
	}
}

// TestCopyConflicts: merging refuses to paper over a record of another
// installation, and a copy into a store with only audit events reports
// the event that is there.
func TestCopyConflicts(t *testing.T) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	tests := []struct {
		name   string
		merge  bool
		target func(t *testing.T, st store.Store)
		want   string
	}{
		{"username taken by another account", true, func(t *testing.T, st store.Store) {
			if err := st.CreateLocalAccount(ctx, store.LocalAccount{ID: "other", Username: "carol", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
		}, "local account acc1 (carol) conflicts with another record of the target"},
		{"identity linked to another user", true, func(t *testing.T, st store.Store) {
			if err := st.CreateUser(ctx, store.User{ID: "other", CreatedAt: now},
				store.Identity{ConnectorID: "github", Subject: "42", UserID: "other"}); err != nil {
				t.Fatal(err)
			}
		}, "an identity of user u1 is linked to another user of the target"},
		{"audit event there without merge", false, func(t *testing.T, st store.Store) {
			if err := st.CreateAuditEvents(ctx, store.AuditEvent{ID: "e0", Time: now, Expiry: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}, "is already in the target (a copy ran before? merge to copy only what is missing)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := openBadger(t)
			if err := src.CreateLocalAccount(ctx, store.LocalAccount{ID: "acc1", Username: "carol", CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if err := src.CreateUser(ctx, store.User{ID: "u1", CreatedAt: now},
				store.Identity{ConnectorID: "github", Subject: "42", UserID: "u1"}); err != nil {
				t.Fatal(err)
			}
			if err := src.CreateAuditEvents(ctx, store.AuditEvent{ID: "e0", Time: now, Expiry: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			dst := openBadger(t)
			tc.target(t, dst)
			_, err := Copy(ctx, src, dst, Options{Merge: tc.merge})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, store.ErrAlreadyExists) {
				t.Fatalf("Copy: %v, want ErrAlreadyExists saying %q", err, tc.want)
			}
		})
	}
}

func sorted[T any](s []T, key func(T) string) []T {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return s
}

// canon is v as JSON values with every time a UTC instant of microsecond
// precision: backends keep instants to the microsecond, not locations
// (storetest's rule).
func canon(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				v[k] = walk(e)
			}
		case []any:
			for i, e := range v {
				v[i] = walk(e)
			}
		case string:
			if tm, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return tm.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
			}
		}
		return v
	}
	return walk(out)
}
