package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/portico-idp/portico/broker/metrics"
	"github.com/portico-idp/portico/broker/store"
	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/store/storetest"
	"github.com/portico-idp/portico/sdk"
)

// scrape fetches m's handler over HTTP, as Prometheus does, and parses the
// text exposition.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("scrape: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse scrape: %v", err)
	}
	return fams
}

// labels of a series; an empty value is the same as no label.
func labels(s *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range s.GetLabel() {
		if l.GetValue() != "" {
			out[l.GetName()] = l.GetValue()
		}
	}
	return out
}

// series returns the series of family name with exactly the labels want
// (empty values left out), or nil.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	for _, s := range fams[name].GetMetric() {
		if maps.Equal(labels(s), want) {
			return s
		}
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	s := series(fams, name, want)
	if s == nil {
		var have []map[string]string
		for _, s := range fams[name].GetMetric() {
			have = append(have, labels(s))
		}
		t.Fatalf("no series %s%v; have %v", name, want, have)
	}
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	}
	t.Fatalf("%s%v: not a counter, gauge or histogram", name, want)
	return 0
}

func wantValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, l map[string]string, want float64) {
	t.Helper()
	if got := value(t, fams, name, l); got != want {
		t.Errorf("%s%v = %v, want %v", name, l, got, want)
	}
}

func openBadger(t *testing.T) *badger.Store {
	t.Helper()
	s, err := badger.Open(badger.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open badger: %v", err)
	}
	return s
}

func TestRuntimeCollectors(t *testing.T) {
	fams := scrape(t, metrics.New())
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_build_info", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
	// Token kinds exist from the start, at zero.
	for _, kind := range []string{"issued", "refreshed", "revoked"} {
		wantValue(t, fams, "portico_tokens_total", map[string]string{"kind": kind}, 0)
	}
}

func TestGinMiddleware(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	m := metrics.New()
	r := gin.New()
	r.Use(m.GinMiddleware())
	r.GET("/users/:id", func(c *gin.Context) { c.String(http.StatusOK, c.Param("id")) })
	r.POST("/login", func(c *gin.Context) { c.Status(http.StatusUnauthorized) })
	srv := httptest.NewServer(r)
	defer srv.Close()

	for _, rq := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/users/1", 200},
		{"GET", "/users/2", 200},
		{"POST", "/login", 401},
		{"GET", "/no/such/page", 404},
		{"BREW", "/coffee", 404}, // a method of the client's invention
	} {
		req, err := http.NewRequestWithContext(t.Context(), rq.method, srv.URL+rq.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", rq.method, rq.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != rq.status {
			t.Fatalf("%s %s: status %d, want %d", rq.method, rq.path, resp.StatusCode, rq.status)
		}
	}

	fams := scrape(t, m)
	const reqs, dur = "portico_http_requests_total", "portico_http_request_duration_seconds"
	wantValue(t, fams, reqs, map[string]string{"route": "/users/:id", "method": "GET", "code": "200"}, 2)
	wantValue(t, fams, reqs, map[string]string{"route": "/login", "method": "POST", "code": "401"}, 1)
	wantValue(t, fams, reqs, map[string]string{"route": "unmatched", "method": "GET", "code": "404"}, 1)
	wantValue(t, fams, reqs, map[string]string{"route": "unmatched", "method": "other", "code": "404"}, 1)
	if n := len(fams[reqs].GetMetric()); n != 4 {
		t.Errorf("%s has %d series, want 4", reqs, n)
	}
	wantValue(t, fams, dur, map[string]string{"route": "/users/:id", "method": "GET"}, 2)
	wantValue(t, fams, dur, map[string]string{"route": "/login", "method": "POST"}, 1)
	wantValue(t, fams, dur, map[string]string{"route": "unmatched", "method": "GET"}, 1)
	if h := series(fams, dur, map[string]string{"route": "/users/:id", "method": "GET"}).GetHistogram(); h.GetSampleSum() <= 0 || len(h.GetBucket()) == 0 {
		t.Errorf("%s: sum %v, %d buckets; want time recorded in buckets", dur, h.GetSampleSum(), len(h.GetBucket()))
	}
	// Raw paths never become label values: only patterns do.
	for _, name := range []string{reqs, dur} {
		for _, s := range fams[name].GetMetric() {
			if route := labels(s)["route"]; route != "/users/:id" && route != "/login" && route != "unmatched" {
				t.Errorf("%s has route %q", name, route)
			}
		}
	}
}

func TestObserveAudit(t *testing.T) {
	m := metrics.New()
	for _, e := range []store.AuditEvent{
		{Type: "login.success", ConnectorID: "github", ClientID: "app"},
		{Type: "login.success", ConnectorID: "github", ClientID: "app"},
		{Type: "login.success", ConnectorID: "local"},
		{Type: "login.failure", ConnectorID: "local", Details: map[string]string{"reason": "invalid_credentials"}},
		{Type: "login.failure", ConnectorID: "local", Details: map[string]string{"reason": "invalid_credentials"}},
		{Type: "login.failure", ConnectorID: "local", Details: map[string]string{"reason": "throttled"}},
		// A passkey login that failed before any connector was known.
		{Type: "login.failure", Details: map[string]string{"reason": "passkey_invalid"}},
		// Free text must not become a series.
		{Type: "login.failure", ConnectorID: "local", Details: map[string]string{"reason": "Alice typed hunter2"}},
		{Type: "login.failure", ConnectorID: "local"},
		{Type: "token.issue", ClientID: "app", Details: map[string]string{"grant_type": "authorization_code"}},
		{Type: "token.issue", ClientID: "svc", Details: map[string]string{"grant_type": "client_credentials"}},
		{Type: "token.refresh", ClientID: "app"},
		{Type: "token.revoke", ClientID: "app"},
		{Type: "security.code_replay", ClientID: "app"},
		{Type: "security.refresh_replay", ClientID: "app"},
		{Type: "security.refresh_replay", ClientID: "app"},
		// Not counted here.
		{Type: "user.create"},
		{Type: "admin.client.create"},
		{Type: "consent.grant"},
	} {
		m.ObserveAudit(e)
	}

	fams := scrape(t, m)
	const logins = "portico_logins_total"
	wantValue(t, fams, logins, map[string]string{"connector": "github", "outcome": "success"}, 2)
	wantValue(t, fams, logins, map[string]string{"connector": "local", "outcome": "success"}, 1)
	wantValue(t, fams, logins, map[string]string{"connector": "local", "outcome": "failure", "reason": "invalid_credentials"}, 2)
	wantValue(t, fams, logins, map[string]string{"connector": "local", "outcome": "failure", "reason": "throttled"}, 1)
	wantValue(t, fams, logins, map[string]string{"connector": "none", "outcome": "failure", "reason": "passkey_invalid"}, 1)
	wantValue(t, fams, logins, map[string]string{"connector": "local", "outcome": "failure", "reason": "other"}, 1)
	wantValue(t, fams, logins, map[string]string{"connector": "local", "outcome": "failure", "reason": "unknown"}, 1)
	if n := len(fams[logins].GetMetric()); n != 7 {
		t.Errorf("%s has %d series, want 7", logins, n)
	}

	wantValue(t, fams, "portico_tokens_total", map[string]string{"kind": "issued"}, 2)
	wantValue(t, fams, "portico_tokens_total", map[string]string{"kind": "refreshed"}, 1)
	wantValue(t, fams, "portico_tokens_total", map[string]string{"kind": "revoked"}, 1)
	if n := len(fams["portico_tokens_total"].GetMetric()); n != 3 {
		t.Errorf("portico_tokens_total has %d series, want 3", n)
	}

	wantValue(t, fams, "portico_security_events_total", map[string]string{"type": "security.code_replay"}, 1)
	wantValue(t, fams, "portico_security_events_total", map[string]string{"type": "security.refresh_replay"}, 2)
	if n := len(fams["portico_security_events_total"].GetMetric()); n != 2 {
		t.Errorf("portico_security_events_total has %d series, want 2", n)
	}
}

func TestWrapStore(t *testing.T) {
	m := metrics.New()
	st := m.WrapStore(openBadger(t))
	defer st.Close()
	ctx := t.Context()
	created := time.Now().UTC().Truncate(time.Microsecond)

	u := store.User{ID: "u1", Username: "alice", CreatedAt: created}
	if err := st.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := st.GetUser(ctx, "u1")
	if err != nil || got.Username != "alice" {
		t.Fatalf("GetUser = %+v, %v", got, err)
	}
	// Answers pass through unchanged and are not failures.
	if _, err := st.GetUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser(nobody): %v, want ErrNotFound", err)
	}
	if err := st.CreateUser(ctx, u); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("CreateUser twice: %v, want ErrAlreadyExists", err)
	}
	u.Version = 7
	if err := st.UpdateUser(ctx, u); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateUser(stale): %v, want ErrConflict", err)
	}
	// A caller that gave up is not the store's failure; a deadline that
	// passed is.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.GetUser(canceled, "u1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetUser(canceled): %v, want context.Canceled", err)
	}
	expired, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := st.GetUser(expired, "u1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GetUser(expired): %v, want context.DeadlineExceeded", err)
	}

	fams := scrape(t, m)
	const dur, errs = "portico_store_operation_duration_seconds", "portico_store_errors_total"
	wantValue(t, fams, dur, map[string]string{"op": "CreateUser"}, 2)
	wantValue(t, fams, dur, map[string]string{"op": "GetUser"}, 4)
	wantValue(t, fams, dur, map[string]string{"op": "UpdateUser"}, 1)
	wantValue(t, fams, errs, map[string]string{"op": "GetUser"}, 1) // the deadline only
	if n := len(fams[errs].GetMetric()); n != 1 {
		t.Errorf("%s has %d series, want only GetUser's", errs, n)
	}
}

// TestWrapStoreEveryMethod calls every method of store.Store through the
// wrapper and checks that each is timed under its own name: a method that
// forwards to the wrong one or records another's name shows here.
func TestWrapStoreEveryMethod(t *testing.T) {
	m := metrics.New()
	st := m.WrapStore(openBadger(t))
	iface := reflect.TypeFor[store.Store]()
	ctxType := reflect.TypeFor[context.Context]()
	var names []string
	for i := range iface.NumMethod() {
		names = append(names, iface.Method(i).Name)
	}
	// Close last: after it the others would fail.
	slices.SortFunc(names, func(a, b string) int {
		if (a == "Close") != (b == "Close") {
			if a == "Close" {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	v := reflect.ValueOf(st)
	for _, name := range names {
		fn := v.MethodByName(name)
		ft := fn.Type()
		n := ft.NumIn()
		if ft.IsVariadic() {
			n-- // Call makes the empty variadic slice
		}
		args := make([]reflect.Value, n)
		for i := range args {
			if ft.In(i) == ctxType {
				args[i] = reflect.ValueOf(t.Context())
			} else {
				args[i] = reflect.Zero(ft.In(i))
			}
		}
		fn.Call(args) // zero arguments: errors are expected and beside the point
	}

	fams := scrape(t, m)
	const dur = "portico_store_operation_duration_seconds"
	var ops []string
	for _, s := range fams[dur].GetMetric() {
		ops = append(ops, labels(s)["op"])
		if c := s.GetHistogram().GetSampleCount(); c != 1 {
			t.Errorf("%s{op=%q} count %d, want 1", dur, labels(s)["op"], c)
		}
	}
	for _, name := range names {
		if !slices.Contains(ops, name) {
			t.Errorf("%s was not timed as op %q", name, name)
		}
	}
	for _, op := range ops {
		if !slices.Contains(names, op) {
			t.Errorf("op %q timed, which is no method of store.Store", op)
		}
	}
}

// TestWrapStoreConformance runs the store's conformance suite over the
// wrapper: it changes no behaviour. The suite meets every answer
// (not found, conflict, already exists) and no failure, so no error may
// be counted.
func TestWrapStoreConformance(t *testing.T) {
	m := metrics.New()
	storetest.Run(t, func(t *testing.T) store.Store { return m.WrapStore(openBadger(t)) })

	fams := scrape(t, m)
	if n := len(fams["portico_store_operation_duration_seconds"].GetMetric()); n < 30 {
		t.Errorf("the suite timed %d operations, want most of the interface's", n)
	}
	for _, s := range fams["portico_store_errors_total"].GetMetric() {
		t.Errorf("portico_store_errors_total%v = %v: an answer counted as a failure?", labels(s), s.GetCounter().GetValue())
	}
}

func TestConnectors(t *testing.T) {
	m := metrics.New()
	m.ObserveConnectorCall(metrics.KindBuiltin, "ldap", "login", 30*time.Millisecond, nil)
	m.ObserveConnectorCall(metrics.KindBuiltin, "ldap", "login", 20*time.Millisecond, fmt.Errorf("bind: %w", sdk.ErrInvalidCredentials))
	m.ObserveConnectorCall(metrics.KindBuiltin, "ldap", "login", 2*time.Second, fmt.Errorf("dial: %w", sdk.ErrUnavailable))
	m.ObserveConnectorCall(metrics.KindBuiltin, "ldap", "refresh", time.Millisecond, fmt.Errorf("search: %w", sdk.ErrUserGone))
	m.ObserveConnectorCall(metrics.KindProcess, "corp", "login", 5*time.Millisecond, context.Canceled)
	m.ObserveConnectorCall(metrics.KindWasm, "toy", "callback", time.Millisecond, errors.New("module trapped"))
	m.ConnectorRestarted(metrics.KindProcess, "corp")
	m.ConnectorRestarted(metrics.KindProcess, "corp")
	m.SetLDAPPool("ldap", 3, 5)
	m.SetLDAPPool("ldap", 2, 6) // a gauge: the latest value stands

	fams := scrape(t, m)
	const dur, errs = "portico_connector_call_duration_seconds", "portico_connector_call_errors_total"
	login := map[string]string{"kind": "builtin", "connector": "ldap", "op": "login"}
	wantValue(t, fams, dur, login, 3)
	if sum := series(fams, dur, login).GetHistogram().GetSampleSum(); sum < 2.049 || sum > 2.051 {
		t.Errorf("%s%v sum %v, want 2.05", dur, login, sum)
	}
	wantValue(t, fams, dur, map[string]string{"kind": "builtin", "connector": "ldap", "op": "refresh"}, 1)
	wantValue(t, fams, dur, map[string]string{"kind": "process", "connector": "corp", "op": "login"}, 1)
	wantValue(t, fams, dur, map[string]string{"kind": "wasm", "connector": "toy", "op": "callback"}, 1)
	// Failures only: not invalid credentials, a gone user or a canceled call.
	wantValue(t, fams, errs, login, 1)
	wantValue(t, fams, errs, map[string]string{"kind": "wasm", "connector": "toy", "op": "callback"}, 1)
	if n := len(fams[errs].GetMetric()); n != 2 {
		t.Errorf("%s has %d series, want 2", errs, n)
	}
	wantValue(t, fams, "portico_connector_restarts_total", map[string]string{"kind": "process", "connector": "corp"}, 2)
	wantValue(t, fams, "portico_ldap_pool_connections", map[string]string{"connector": "ldap", "state": "in_use"}, 2)
	wantValue(t, fams, "portico_ldap_pool_connections", map[string]string{"connector": "ldap", "state": "idle"}, 6)
}

type readyBody struct {
	Status string `json:"status"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

// probe GETs h over a real server and returns the status and the body.
func probe(t *testing.T, h http.Handler) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("probe: read body: %v", err)
	}
	return resp.StatusCode, string(body)
}

func ready(t *testing.T, h http.Handler) (int, readyBody, string) {
	t.Helper()
	code, raw := probe(t, h)
	var b readyBody
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatalf("readyz body %q: %v", raw, err)
	}
	return code, b, raw
}

func TestHealthz(t *testing.T) {
	code, body := probe(t, metrics.Health{}.Healthz())
	if code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("healthz = %d %q, want 200 ok", code, body)
	}
}

func TestReadyz(t *testing.T) {
	m := metrics.New()
	bs := openBadger(t)
	st := m.WrapStore(bs)
	defer st.Close()
	keys := true
	h := metrics.Health{}

	t.Run("Ready", func(t *testing.T) {
		code, b, raw := ready(t, h.Readyz(metrics.StoreCheck(st), metrics.KeysCheck(func() bool { return keys })))
		if code != http.StatusOK || b.Status != "ready" || len(b.Checks) != 2 {
			t.Fatalf("readyz = %d %s, want 200 with two checks", code, raw)
		}
		for i, name := range []string{"store", "keys"} {
			if c := b.Checks[i]; c.Name != name || c.Status != "ok" || c.Error != "" {
				t.Errorf("check %d = %+v, want %s ok", i, c, name)
			}
		}
		// The probe's read went through the wrapper like any other.
		wantValue(t, scrape(t, m), "portico_store_operation_duration_seconds", map[string]string{"op": "GetKeys"}, 1)
	})

	t.Run("NoKeys", func(t *testing.T) {
		code, b, raw := ready(t, h.Readyz(metrics.StoreCheck(st), metrics.KeysCheck(func() bool { return false })))
		if code != http.StatusServiceUnavailable || b.Status != "unavailable" || !strings.Contains(raw, `"keys"`) {
			t.Fatalf("readyz = %d %s, want 503 naming keys", code, raw)
		}
		if c := b.Checks[0]; c.Status != "ok" {
			t.Errorf("store check = %+v, want ok", c)
		}
		if c := b.Checks[1]; c.Name != "keys" || c.Status != "failed" || !strings.Contains(c.Error, "signing key") {
			t.Errorf("keys check = %+v, want failed with the reason", c)
		}
	})

	t.Run("SlowAndBroken", func(t *testing.T) {
		stuck := make(chan struct{})
		defer close(stuck)
		fast := metrics.Health{Timeout: 200 * time.Millisecond}
		start := time.Now()
		code, b, raw := ready(t, fast.Readyz(
			metrics.Check{Name: "deaf", Fn: func(context.Context) error { <-stuck; return nil }}, // ignores its context
			metrics.Check{Name: "broken", Fn: func(context.Context) error { panic("bug") }},
			metrics.KeysCheck(func() bool { return true }),
		))
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("readyz took %v with a 200ms timeout", took)
		}
		if code != http.StatusServiceUnavailable || len(b.Checks) != 3 {
			t.Fatalf("readyz = %d %s, want 503 with three checks", code, raw)
		}
		if c := b.Checks[0]; c.Name != "deaf" || c.Status != "failed" || !strings.Contains(c.Error, "no answer in time") {
			t.Errorf("deaf check = %+v, want failed for time", c)
		}
		if c := b.Checks[1]; c.Name != "broken" || c.Status != "failed" || !strings.Contains(c.Error, "panicked") {
			t.Errorf("broken check = %+v, want failed for its panic", c)
		}
		if c := b.Checks[2]; c.Status != "ok" {
			t.Errorf("keys check = %+v, want ok", c)
		}
	})

	t.Run("StoreClosed", func(t *testing.T) {
		if err := bs.Close(); err != nil {
			t.Fatalf("close badger: %v", err)
		}
		code, b, raw := ready(t, h.Readyz(metrics.StoreCheck(st)))
		if code != http.StatusServiceUnavailable || b.Checks[0].Name != "store" || b.Checks[0].Status != "failed" ||
			!strings.Contains(b.Checks[0].Error, "read signing keys") {
			t.Fatalf("readyz = %d %s, want 503 with the store failed", code, raw)
		}
		// A real failure, unlike an answer, is counted.
		wantValue(t, scrape(t, m), "portico_store_errors_total", map[string]string{"op": "GetKeys"}, 1)
	})
}
