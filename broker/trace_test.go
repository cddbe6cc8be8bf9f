package broker_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/portico-idp/portico/testenv"
)

// otlpReceiver is an OTLP/HTTP trace endpoint, as a collector serves it.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not OTLP/HTTP protobuf", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, _ := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			o.spans = append(o.spans, ss.Spans...)
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// TestTracing: with ops.tracing set, a password login is one trace per
// request, from the HTTP span through the connector call to the store.
func TestTracing(t *testing.T) {
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := testenv.Config(t)
	cfg.Ops.Tracing.Endpoint = srv.URL
	b := testenv.Start(t, cfg)
	if _, _, err := newRP(t, b).Login(t.Context(), testenv.UserName, testenv.UserPassword); err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil { // flushes the exporter
		t.Fatal(err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	var login *tracepb.Span
	for _, s := range rcv.spans {
		if s.Name == "POST /login/:connector" {
			login = s
		}
	}
	if login == nil {
		var names []string
		for _, s := range rcv.spans {
			names = append(names, s.Name)
		}
		t.Fatalf("no span of the login form's POST among %d: %v", len(rcv.spans), names)
	}
	var connector *tracepb.Span
	stores := 0
	for _, s := range rcv.spans {
		if !bytes.Equal(s.TraceId, login.TraceId) {
			continue
		}
		switch {
		case s.Name == "connector.login" && bytes.Equal(s.ParentSpanId, login.SpanId):
			connector = s
		case strings.HasPrefix(s.Name, "store."):
			stores++
		}
	}
	if connector == nil {
		t.Fatal("no connector.login span under the login request's span")
	}
	if stores == 0 {
		t.Fatal("no store spans in the login's trace")
	}
	// The local connector reads its account from the store: that span
	// hangs under the connector's.
	underConnector := false
	for _, s := range rcv.spans {
		if strings.HasPrefix(s.Name, "store.") && bytes.Equal(s.ParentSpanId, connector.SpanId) {
			underConnector = true
		}
	}
	if !underConnector {
		t.Error("no store span under connector.login")
	}
	for _, s := range rcv.spans {
		for _, a := range s.Attributes {
			if strings.Contains(a.Value.String(), testenv.UserPassword) {
				t.Fatalf("span %s carries the password", s.Name)
			}
		}
	}
}

// TestRequestID: every answer carries a request id, a caller's sane one is
// kept, and the broker's log lines of the request name it.
func TestRequestID(t *testing.T) {
	b := testenv.Start(t, testenv.Config(t))
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/authorize?client_id=nobody", nil)
	req.Header.Set("X-Request-ID", "from-the-proxy-42")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "from-the-proxy-42" {
		t.Errorf("X-Request-ID %q, want the caller's", got)
	}
	req.Header.Set("X-Request-ID", "bad id with spaces")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Errorf("X-Request-ID %q for a malformed one, want a fresh id", got)
	}
	if !strings.Contains(b.Logs(), `"request_id":"from-the-proxy-42"`) {
		t.Error("the request's log lines do not carry its id")
	}
}
