package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/portico-idp/portico/broker/store"
)

// DefaultReadyTimeout bounds a readiness probe when Health.Timeout is zero.
// Kubernetes' probes time out after 1 s by default and are set higher for
// slower checks; 2 s keeps an answer inside a typical 3-5 s setting.
const DefaultReadyTimeout = 2 * time.Second

// maxErrorText bounds a failed check's error in the readiness answer: it
// is for a person reading a probe's output, not a log.
const maxErrorText = 300

// Health serves the liveness probe (/healthz) and the readiness probe
// (/readyz).
type Health struct {
	// Timeout bounds one readiness probe, all its checks together; zero
	// means DefaultReadyTimeout.
	Timeout time.Duration
}

// Check is one readiness condition. Fn returns nil when it holds; its
// error's text goes into the probe's answer, so it must come from
// Portico's own code and never carry a secret (a DSN's password).
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
	// Advisory checks are reported, failed or not, but do not make the
	// server unready: an LDAP directory with no server up (issue 18) stops
	// that connector's logins only, and taking every replica out of the
	// load balancer would stop all the rest too.
	Advisory bool
}

// Healthz answers 200 "ok" as long as the process serves requests: it
// checks nothing else, so that a store outage makes the server unready
// (no traffic) rather than dead (restarted), which would not help.
func (h Health) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
}

// readyAnswer is the readiness probe's JSON body.
type readyAnswer struct {
	Status string        `json:"status"` // "ready" or "unavailable"
	Checks []checkResult `json:"checks"`
}

type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"` // "ok" or "failed"
	Error  string `json:"error,omitempty"`
	// Advisory: this check's failure does not make the server unready.
	Advisory bool `json:"advisory,omitempty"`
}

// Readyz runs checks in parallel on every probe and answers 200 when all
// pass, 503 otherwise, with a JSON body giving each check's outcome and a
// failed one's error. A check still running at the timeout fails as timed
// out: the probe answers in time even if a check ignores its context.
// Readyz panics on a check without a name or a function, a mistake in the
// server's assembly best found at start.
func (h Health) Readyz(checks ...Check) http.Handler {
	for i, c := range checks {
		if c.Name == "" || c.Fn == nil {
			panic(fmt.Sprintf("metrics: readiness check %d (%q) needs a name and a function", i, c.Name))
		}
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		ans := runChecks(ctx, checks)
		code := http.StatusOK
		if ans.Status != "ready" {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(ans)
	})
}

// runChecks runs checks in parallel until they end or ctx does.
func runChecks(ctx context.Context, checks []Check) readyAnswer {
	type outcome struct {
		i   int
		err error
	}
	// Buffered so that a check that outlives the probe can still send
	// and end, instead of leaking blocked.
	results := make(chan outcome, len(checks))
	for i, c := range checks {
		go func() { results <- outcome{i, runCheck(ctx, c)} }()
	}
	errs := make([]error, len(checks))
	pending := make([]bool, len(checks))
	for i := range pending {
		pending[i] = true
	}
wait:
	for range checks {
		select {
		case o := <-results:
			errs[o.i], pending[o.i] = o.err, false
		case <-ctx.Done():
			break wait
		}
	}
	ans := readyAnswer{Status: "ready", Checks: make([]checkResult, len(checks))}
	for i, c := range checks {
		err := errs[i]
		if pending[i] {
			err = fmt.Errorf("no answer in time: %w", ctx.Err())
		}
		res := checkResult{Name: c.Name, Status: "ok", Advisory: c.Advisory}
		if err != nil {
			if !c.Advisory {
				ans.Status = "unavailable"
			}
			res.Status, res.Error = "failed", truncate(err.Error(), maxErrorText)
		}
		ans.Checks[i] = res
	}
	return ans
}

// runCheck runs one check, turning a panic into its failure: one broken
// check must not take the server down with it.
func runCheck(ctx context.Context, c Check) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("check panicked: %v", v)
		}
	}()
	return c.Fn(ctx)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// StoreCheck is ready when the store answers a cheap read (the signing key
// set, one key) and, if it can tell (WriteChecker, as a store from
// WrapStore can), takes writes: a store that serves reads but refuses
// writes (a full disk) fails every login and token request, so it is not
// ready, and the check's error says why.
func StoreCheck(s store.Store) Check {
	return Check{Name: "store", Fn: func(ctx context.Context) error {
		if _, err := s.GetKeys(ctx); err != nil {
			return fmt.Errorf("read signing keys: %w", err)
		}
		if c, ok := s.(WriteChecker); ok {
			if err := c.CheckWrites(ctx); err != nil {
				return fmt.Errorf("writes refused: %w", err)
			}
		}
		return nil
	}}
}

// errNoKeys is KeysCheck's failure.
var errNoKeys = errors.New("no signing key loaded yet")

// KeysCheck is ready when loaded reports that the token service has a
// signing key to sign with: until then every token request would fail.
func KeysCheck(loaded func() bool) Check {
	return Check{Name: "keys", Fn: func(context.Context) error {
		if !loaded() {
			return errNoKeys
		}
		return nil
	}}
}
