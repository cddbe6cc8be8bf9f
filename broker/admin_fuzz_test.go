package broker_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/broker/admin"

	"github.com/jackc/pgx/v5"

	"github.com/portico-idp/portico/broker/config"
	"github.com/portico-idp/portico/testenv"
)

// fuzzOp is one operation of the admin API's OpenAPI document, as the
// fuzz target reads it.
type fuzzOp struct {
	ID, Method, Path string
	PathParams       []string
	Query            []string
	Body             bool
	Responses        map[string]bool
}

// fuzzOps reads every operation of the document, in a stable order.
func fuzzOps(tb testing.TB) []fuzzOp {
	tb.Helper()
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			Parameters  []struct {
				Name string `json:"name"`
				In   string `json:"in"`
			} `json:"parameters"`
			RequestBody *json.RawMessage           `json:"requestBody"`
			Responses   map[string]json.RawMessage `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(admin.OpenAPI(), &doc); err != nil {
		tb.Fatal(err)
	}
	var ops []fuzzOp
	for path, methods := range doc.Paths {
		for method, o := range methods {
			op := fuzzOp{ID: o.OperationID, Method: strings.ToUpper(method), Path: path, Body: o.RequestBody != nil, Responses: map[string]bool{}}
			for _, p := range o.Parameters {
				switch p.In {
				case "path":
					op.PathParams = append(op.PathParams, p.Name)
				case "query":
					op.Query = append(op.Query, p.Name)
				}
			}
			for status := range o.Responses {
				op.Responses[status] = true
			}
			ops = append(ops, op)
		}
	}
	slices.SortFunc(ops, func(a, b fuzzOp) int { return cmp.Compare(a.ID, b.ID) })
	return ops
}

// adminFuzzToken is a client_credentials token of the admin client.
func adminFuzzToken(tb testing.TB, b *testenv.Broker) string {
	tb.Helper()
	req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(adminClientID, adminClientSecret)
	w := httptest.NewRecorder()
	b.Server.Broker.ServeHTTP(w, req)
	var r struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil || r.AccessToken == "" {
		tb.Fatalf("admin token: %d %s", w.Code, w.Body)
	}
	return r.AccessToken
}

// fuzzSep separates the values of one fuzz argument: ASCII's unit
// separator, so that a NUL, a newline or a slash can be in a value.
const fuzzSep = "\x1f"

// FuzzAdminAPI walks the admin API's OpenAPI document: an operation
// (named, or any by the name's hash), a method (mostly the documented
// one), path parameters and query values (separated by fuzzSep, in the
// document's order) and a body, all from the fuzzer's bytes, go through
// the served handler with an admin token. No answer may be a 5xx (a
// panic is recovered as a 500), an error that is not the API's JSON
// error object, or, for the documented method, a status the document
// does not list. {alice}, {account}, {subject} and {session} in a
// parameter stand for a real user's ids, so seeds reach past lookups.
func FuzzAdminAPI(f *testing.F) {
	ops := fuzzOps(f)
	// Both stores: PostgreSQL refuses what Badger takes (a NUL, bytes
	// that are not UTF-8), and a refusal there must not become a 503.
	targets := []*fuzzTarget{newFuzzTarget(f, adminConfig(f))}
	if err := postgresReachable(); err != nil {
		if os.Getenv("CI") == "true" {
			f.Fatalf("no PostgreSQL for the second half: %v", err)
		}
		f.Logf("SKIPPING the PostgreSQL half: no PostgreSQL (%v); set PORTICO_TEST_POSTGRES_DSN", err)
	} else {
		cfg := adminConfig(f)
		cfg.Storage = config.Storage{Type: config.StoragePostgres, DSN: testenv.PostgresDSN(), Schema: testenv.PostgresSchema(f), Dir: f.TempDir()}
		targets = append(targets, newFuzzTarget(f, cfg))
	}
	for _, op := range ops {
		f.Add(op.ID, uint8(0), "{alice}"+fuzzSep+"local"+fuzzSep+"{subject}", "", []byte(`{}`))
	}
	others := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions}
	f.Fuzz(func(t *testing.T, opName string, method uint8, params, query string, body []byte) {
		i := slices.IndexFunc(ops, func(o fuzzOp) bool { return o.ID == opName })
		if i < 0 {
			h := fnv.New32a()
			h.Write([]byte(opName))
			i = int(h.Sum32() % uint32(len(ops)))
		}
		op := ops[i]
		m := op.Method
		if method%2 == 1 {
			m = others[int(method/2)%len(others)]
		}
		values := strings.Split(params, fuzzSep)
		// The walk's admin client stays: without it every later input
		// would be a 401 and find nothing.
		if slices.Contains(values[:min(len(values), len(op.PathParams))], adminClientID) {
			t.Skip("names the fuzzer's own admin client")
		}
		q := url.Values{}
		for j, v := range strings.Split(query, fuzzSep) {
			if j < len(op.Query) && v != "" {
				q.Set(op.Query[j], v)
			}
		}
		for _, tg := range targets {
			tg.check(t, op, m, values, q, body)
		}
	})
}

// fuzzTarget is one broker the fuzz target sends every input to, with an
// admin token and a real user's ids for the {alice}-style placeholders.
type fuzzTarget struct {
	b     *testenv.Broker
	token string
	vars  map[string]string
}

func newFuzzTarget(f *testing.F, cfg *config.Config) *fuzzTarget {
	b := testenv.Start(f, cfg)
	rp, err := testenv.NewRP(context.Background(), b.URL, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		f.Fatal(err)
	}
	rp.Connector = "local"
	_, idt, err := rp.Login(context.Background(), testenv.UserName, testenv.UserPassword)
	if err != nil {
		f.Fatal(err)
	}
	tg := &fuzzTarget{b: b, token: adminFuzzToken(f, b), vars: map[string]string{"{alice}": idt.Subject}}
	ctx := context.Background()
	if idents, err := b.Server.Store.ListIdentities(ctx, idt.Subject); err == nil && len(idents) > 0 {
		tg.vars["{subject}"] = idents[0].Subject
	}
	if acc, err := b.Server.Store.GetLocalAccountByLogin(ctx, testenv.UserName); err == nil {
		tg.vars["{account}"] = acc.ID
	}
	if fams, err := b.Server.Store.ListRefreshFamilies(ctx, idt.Subject); err == nil && len(fams) > 0 {
		tg.vars["{session}"] = fams[0].ID
	}
	return tg
}

// check sends op's path with values as its parameters, m and q and body,
// and judges the answer.
func (tg *fuzzTarget) check(t *testing.T, op fuzzOp, m string, values []string, q url.Values, body []byte) {
	t.Helper()
	path := op.Path
	for j, name := range op.PathParams {
		v := ""
		if j < len(values) {
			v = values[j]
		}
		if x, ok := tg.vars[v]; ok {
			v = x
		}
		path = strings.ReplaceAll(path, "{"+name+"}", url.PathEscape(v))
	}
	target := "/admin/v1" + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var req *http.Request
	if op.Body || m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch {
		req = httptest.NewRequest(m, target, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req = httptest.NewRequest(m, target, nil)
	}
	req.Header.Set("Authorization", "Bearer "+tg.token)
	w := httptest.NewRecorder()
	tg.b.Server.Broker.ServeHTTP(w, req)

	what := string(tg.b.Config.Storage.Type) + ": " + m + " " + target
	switch {
	case w.Code >= 500:
		t.Fatalf("%s: %d %s", what, w.Code, w.Body)
	case w.Code >= 400:
		var e map[string]any
		if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") || json.Unmarshal(w.Body.Bytes(), &e) != nil {
			t.Fatalf("%s: %d with a non-JSON body %q", what, w.Code, w.Body)
		}
		code, _ := e["error"].(string)
		if _, ok := e["error_description"].(string); code == "" || !ok {
			t.Fatalf("%s: %d is not the API's error object: %s", what, w.Code, w.Body)
		}
	case w.Code >= 300:
		// gin's trailing-slash redirect: to the same API, nowhere else.
		if loc := w.Header().Get("Location"); !strings.HasPrefix(loc, "/admin/v1/") {
			t.Fatalf("%s: %d to %q", what, w.Code, loc)
		}
		return
	case w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()):
		t.Fatalf("%s: %d with a non-JSON body %q", what, w.Code, w.Body)
	}
	// 404 and 405 answer paths and methods, not operations.
	if m == op.Method && w.Code != 404 && w.Code != 405 && !op.Responses[strconv.Itoa(w.Code)] {
		t.Fatalf("%s (%s): status %d is not documented: %s", what, op.ID, w.Code, w.Body)
	}
}

// postgresReachable reports why testenv.PostgresDSN cannot be used, if
// it cannot; testenv.PostgresSchema would skip the whole target instead.
func postgresReachable() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresDSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
