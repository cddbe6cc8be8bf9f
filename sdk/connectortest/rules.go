package connectortest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/portico-idp/portico/sdk"
)

// Rule is one rule of the contract and its check. Check returns what the
// connector c did wrong, or nil; it may call the Suite's hooks and fail
// t itself when a hook does.
type Rule struct {
	Name  string // the subtest's name
	Rule  string // the rule, as docs/plugins.md states it
	Check func(t *testing.T, c any, s Suite) error

	skip func(c any, s Suite) string // why the rule does not apply, or ""
}

// Rules are the rules Run checks, in order.
var Rules = []Rule{
	{Name: "login", Rule: "a right password logs the account in, with the identity the store holds and a non-empty, stable Subject within the limits", Check: checkLogin},
	{Name: "unicode", Rule: "usernames, passwords, names and groups outside ASCII round-trip byte for byte", Check: checkUnicode},
	{Name: "wrong-password-unknown-user", Rule: "a wrong password and an unknown user are both sdk.ErrInvalidCredentials, with the same message", Check: checkIndistinguishable},
	{Name: "empty-and-hostile-input", Rule: "an empty password or username, a NUL byte, invalid UTF-8 and 64 KiB of input are sdk.ErrInvalidCredentials, never a login or a panic", Check: checkHostile},
	{Name: "outage", Rule: "a store that cannot be asked is sdk.ErrUnavailable (on refresh too, never sdk.ErrUserGone), and logins work again when it is back", Check: checkOutage, skip: skipNoStore},
	{Name: "cancelled", Rule: "a login with a cancelled context returns an error that is not sdk.ErrInvalidCredentials (it must not spend a password hash on nobody); a refresh with one is not sdk.ErrUserGone", Check: checkCancelled},
	{Name: "cancelled-in-store", Rule: "a login waiting on the store returns when its context is cancelled, with an error that is not sdk.ErrInvalidCredentials", Check: checkStall, skip: skipNoStall},
	{Name: "refresh", Rule: "Refresh returns the same person (Subject, names, groups) as the store holds now", Check: checkRefresh, skip: skipNoRefresh},
	{Name: "refresh-user-gone", Rule: "Refresh of a removed account is sdk.ErrUserGone, and the account cannot log in", Check: checkUserGone, skip: skipNoRemove},
	{Name: "concurrent", Rule: "concurrent logins of different accounts, right and wrong, do not interfere", Check: checkConcurrent},
}

func skipNoStore(_ any, s Suite) string {
	if s.Outage == nil {
		return "no store to break: " + s.NoStore
	}
	return ""
}

func skipNoStall(_ any, s Suite) string {
	if s.Stall == nil {
		return "Suite.Stall not set: only a context cancelled before the call is checked"
	}
	return ""
}

func skipNoRefresh(c any, _ Suite) string {
	if _, ok := c.(sdk.RefreshConnector); !ok {
		return "not an sdk.RefreshConnector"
	}
	return ""
}

func skipNoRemove(c any, s Suite) string {
	if why := skipNoRefresh(c, s); why != "" {
		return why
	}
	if s.Remove == nil {
		return "Suite.Remove not set: refresh of a removed account not checked"
	}
	return ""
}

// scopes asks for everything, so connectors return groups.
var scopes = sdk.Scopes{OfflineAccess: true, Groups: true}

func login(ctx context.Context, c any, user, pass string) (sdk.Identity, error) {
	return c.(sdk.PasswordConnector).Login(ctx, scopes, user, pass)
}

// loginAs logs a in and checks the identity against a.Want and the limits.
func loginAs(ctx context.Context, c any, s Suite, a Account) (sdk.Identity, error) {
	id, err := login(ctx, c, a.Username, a.Password)
	if err != nil {
		return id, fmt.Errorf("login as %q with the right password: %w", a.Username, err)
	}
	if err := CheckIdentity(s.Limits, id); err != nil {
		return id, fmt.Errorf("login as %q: %w", a.Username, err)
	}
	if err := match(id, a.Want); err != nil {
		return id, fmt.Errorf("login as %q: %w", a.Username, err)
	}
	return id, nil
}

// match compares the fields set in want with got.
func match(got, want sdk.Identity) error {
	var diffs []string
	str := func(name, g, w string) {
		if w != "" && g != w {
			diffs = append(diffs, fmt.Sprintf("%s is %q, want %q", name, g, w))
		}
	}
	str("subject", got.Subject, want.Subject)
	str("username", got.Username, want.Username)
	str("preferred_username", got.PreferredUsername, want.PreferredUsername)
	str("email", got.Email, want.Email)
	str("name", got.Name, want.Name)
	if want.EmailVerified && !got.EmailVerified {
		diffs = append(diffs, "email_verified is false, want true")
	}
	// Groups are a set: a directory may list them in any order.
	if want.Groups != nil && !slices.Equal(slices.Sorted(slices.Values(got.Groups)), slices.Sorted(slices.Values(want.Groups))) {
		diffs = append(diffs, fmt.Sprintf("groups are %q, want %q", got.Groups, want.Groups))
	}
	for k, w := range want.Attributes {
		if g := got.Attributes[k]; !slices.Equal(g, w) {
			diffs = append(diffs, fmt.Sprintf("attribute %q is %q, want %q", k, g, w))
		}
	}
	if len(diffs) > 0 {
		return errors.New("the identity differs from the store's: " + strings.Join(diffs, "; "))
	}
	return nil
}

func checkLogin(t *testing.T, c any, s Suite) error {
	first, err := loginAs(t.Context(), c, s, s.User)
	if err != nil {
		return err
	}
	again, err := loginAs(t.Context(), c, s, s.User)
	if err != nil {
		return fmt.Errorf("second %w", err)
	}
	if again.Subject != first.Subject {
		return fmt.Errorf("the Subject changed between two logins (%q, then %q): it must be stable for the life of the account", first.Subject, again.Subject)
	}
	return nil
}

func checkUnicode(t *testing.T, c any, s Suite) error {
	_, err := loginAs(t.Context(), c, s, s.Unicode)
	return err
}

// refused checks that err is a plain wrong-login refusal.
func refused(what string, id sdk.Identity, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("%s logged in (as subject %q)", what, id.Subject)
	case !errors.Is(err, sdk.ErrInvalidCredentials):
		return fmt.Errorf("%s: got %q, want sdk.ErrInvalidCredentials", what, err)
	case errors.Is(err, sdk.ErrPasswordExpired), errors.Is(err, sdk.ErrPasswordMustChange), errors.Is(err, sdk.ErrAccountLocked):
		return fmt.Errorf("%s: got the password state %q, which a connector may report only after a right password", what, err)
	}
	return nil
}

func checkIndistinguishable(t *testing.T, c any, s Suite) error {
	ctx := t.Context()
	u, p := s.User.Username, s.User.Password
	cases := []struct{ what, user, pass string }{
		{"unknown user", "connectortest-no-such-user", p},
		{"wrong password", u, p + "x"},
		{"password without its last character", u, p[:len(p)-1]},
		{"another account's password", u, s.Unicode.Password},
		{"unknown user, non-ASCII", "ünknown-用户", s.Unicode.Password},
	}
	if up := strings.ToUpper(p); up != p {
		cases = append(cases, struct{ what, user, pass string }{"password in upper case", u, up})
	}
	var msgs []string
	for _, tc := range cases {
		id, err := login(ctx, c, tc.user, tc.pass)
		if err := refused(tc.what, id, err); err != nil {
			return err
		}
		msgs = append(msgs, err.Error())
	}
	for i, m := range msgs[1:] {
		if m != msgs[0] {
			return fmt.Errorf("%s answers %q but %s answers %q: a guesser can tell unknown users from wrong passwords", cases[0].what, msgs[0], cases[i+1].what, m)
		}
	}
	return nil
}

func checkHostile(t *testing.T, c any, s Suite) error {
	u, p := s.User.Username, s.User.Password
	long := strings.Repeat("a", 64<<10)
	cases := []struct{ what, user, pass string }{
		{"an empty password", u, ""},
		{"an empty username", "", p},
		{"an empty username and password", "", ""},
		{"the password with a NUL byte and more after it", u, p + "\x00more"},
		{"the username with a NUL byte and more after it", u + "\x00more", p},
		{"a username that is not UTF-8", "\xff\xfe" + u, p},
		{"a password that is not UTF-8", u, "\xff\xfe\xfd"},
		{"a 64 KiB username", long, p},
		{"a 64 KiB password", u, long},
	}
	for _, tc := range cases {
		id, err := callSafely(func() (sdk.Identity, error) { return login(t.Context(), c, tc.user, tc.pass) })
		if err := refused(tc.what, id, err); err != nil {
			return err
		}
	}
	return nil
}

// callSafely turns a panic of an in-process connector into an error.
func callSafely(f func() (sdk.Identity, error)) (id sdk.Identity, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

func checkOutage(t *testing.T, c any, s Suite) error {
	ctx := t.Context()
	before, err := loginAs(ctx, c, s, s.User)
	if err != nil {
		return fmt.Errorf("before the outage: %w", err)
	}
	restore := s.Outage(t)
	id, err := login(ctx, c, s.User.Username, s.User.Password)
	if err := unavailable("a login while the store is down", id, err); err != nil {
		restore()
		return err
	}
	id, err = login(ctx, c, "connectortest-no-such-user", s.User.Password)
	if err := unavailable("an unknown user's login while the store is down", id, err); err != nil {
		restore()
		return err
	}
	if rc, ok := c.(sdk.RefreshConnector); ok {
		id, err := rc.Refresh(ctx, scopes, before)
		if errors.Is(err, sdk.ErrUserGone) {
			restore()
			return fmt.Errorf("a refresh while the store is down: got %q: sdk.ErrUserGone would end the person's sessions over an outage", err)
		}
		if err := unavailable("a refresh while the store is down", id, err); err != nil {
			restore()
			return err
		}
	}
	restore()
	if _, err := loginAs(ctx, c, s, s.User); err != nil {
		return fmt.Errorf("after the store came back: %w", err)
	}
	return nil
}

func unavailable(what string, id sdk.Identity, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("%s succeeded (subject %q): the Outage hook must make the store, caches included, unreachable", what, id.Subject)
	case errors.Is(err, sdk.ErrInvalidCredentials):
		return fmt.Errorf("%s: got %q, a wrong password: the person would be told their password is wrong and the account counted as guessed at; want sdk.ErrUnavailable", what, err)
	case !errors.Is(err, sdk.ErrUnavailable):
		return fmt.Errorf("%s: got %q, want an error wrapping sdk.ErrUnavailable", what, err)
	}
	return nil
}

// notWrongPassword checks the answer to a cancelled call.
func notWrongPassword(what string, id sdk.Identity, err error) error {
	switch {
	case err == nil:
		return fmt.Errorf("%s succeeded (subject %q): a connector must stop when its context is done", what, id.Subject)
	case errors.Is(err, sdk.ErrInvalidCredentials):
		return fmt.Errorf("%s: got %q, a wrong password: the broker would count it against the account", what, err)
	}
	return nil
}

func checkCancelled(t *testing.T, c any, s Suite) error {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id, err := login(ctx, c, s.User.Username, s.User.Password)
	if err := notWrongPassword("a login with a cancelled context", id, err); err != nil {
		return err
	}
	if rc, ok := c.(sdk.RefreshConnector); ok {
		before, err := loginAs(t.Context(), c, s, s.User)
		if err != nil {
			return err
		}
		// A refresh may still answer (a store read costs little), but
		// must not end the person's sessions over it.
		_, err = rc.Refresh(ctx, scopes, before)
		if errors.Is(err, sdk.ErrUserGone) || errors.Is(err, sdk.ErrInvalidCredentials) {
			return fmt.Errorf("a refresh with a cancelled context: got %q: sdk.ErrUserGone would end the person's sessions", err)
		}
	}
	return nil
}

// checkStall cancels a login that waits on a stalled store. It has no
// clock: a connector that ignores its context hangs here until go test's
// -timeout, whose stack dump shows where.
func checkStall(t *testing.T, c any, s Suite) error {
	arrived, restore := s.Stall(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	type result struct {
		id  sdk.Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := login(ctx, c, s.User.Username, s.User.Password)
		done <- result{id, err}
	}()
	select {
	case <-arrived:
	case r := <-done:
		restore()
		return fmt.Errorf("a login with the store stalled returned without asking the store (%v): the Stall hook does not reach the connector's store", r.err)
	}
	cancel()
	r := <-done
	restore()
	if err := notWrongPassword("a login cancelled while the store stalled", r.id, r.err); err != nil {
		return err
	}
	if _, err := loginAs(t.Context(), c, s, s.User); err != nil {
		return fmt.Errorf("after the stall: %w", err)
	}
	return nil
}

func checkRefresh(t *testing.T, c any, s Suite) error {
	rc := c.(sdk.RefreshConnector)
	for _, a := range []Account{s.User, s.Unicode} {
		before, err := loginAs(t.Context(), c, s, a)
		if err != nil {
			return err
		}
		after, err := rc.Refresh(t.Context(), scopes, before)
		if err != nil {
			return fmt.Errorf("refresh of %q: %w", a.Username, err)
		}
		if after.Subject != before.Subject {
			return fmt.Errorf("refresh of %q changed the Subject from %q to %q", a.Username, before.Subject, after.Subject)
		}
		if err := match(after, a.Want); err != nil {
			return fmt.Errorf("refresh of %q: %w", a.Username, err)
		}
		if err := CheckIdentity(s.Limits, after); err != nil {
			return fmt.Errorf("refresh of %q: %w", a.Username, err)
		}
	}
	return nil
}

func checkUserGone(t *testing.T, c any, s Suite) error {
	before, err := loginAs(t.Context(), c, s, s.User)
	if err != nil {
		return err
	}
	restore := s.Remove(t, s.User)
	defer restore()
	id, err := c.(sdk.RefreshConnector).Refresh(t.Context(), scopes, before)
	if err == nil {
		return fmt.Errorf("refresh of the removed %q succeeded (subject %q)", s.User.Username, id.Subject)
	}
	if !errors.Is(err, sdk.ErrUserGone) {
		return fmt.Errorf("refresh of the removed %q: got %q, want sdk.ErrUserGone", s.User.Username, err)
	}
	id, err = login(t.Context(), c, s.User.Username, s.User.Password)
	return refused("a login as the removed account", id, err)
}

func checkConcurrent(t *testing.T, c any, s Suite) error {
	const workers, rounds = 8, 3
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			a := []Account{s.User, s.Unicode}[w%2]
			for range rounds {
				var err error
				if _, e := loginAs(t.Context(), c, s, a); e != nil {
					err = e
				} else if id, e := login(t.Context(), c, a.Username, a.Password+"x"); refused("a wrong password", id, e) != nil {
					err = refused("a wrong password", id, e)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("with %d concurrent logins: %w", workers, errors.Join(errs...))
	}
	return nil
}
