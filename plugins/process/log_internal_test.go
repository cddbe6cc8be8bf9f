package process

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// recorder keeps the records a logWriter emits.
type recorder struct{ recs []slog.Record }

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func TestLogWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stream string
		in     []string // written in these pieces
		want   []string // "LEVEL message" of each record
	}{
		{"hclog line", "stderr", []string{`{"@level":"info","@message":"hello","@timestamp":"2024-01-01T00:00:00.000000Z","n":1}` + "\n"}, []string{"INFO hello"}},
		{"split writes", "stderr", []string{`{"@level":"warn",`, `"@message":"split"}`, "\n"}, []string{"WARN split"}},
		{"levels", "stderr", []string{`{"@level":"trace","@message":"t"}` + "\n" + `{"@level":"ERROR","@message":"e"}` + "\n"}, []string{"DEBUG t", "ERROR e"}},
		{"raw line", "stderr", []string{"plain text\n"}, []string{"WARN plugin output"}},
		{"panic", "stderr", []string{"panic: boom\n\ngoroutine 1 [running]:\n"}, []string{"ERROR plugin output", "ERROR plugin output"}},
		{"wrong types", "stderr", []string{`{"@message":1,"@level":"info"}` + "\n" + `{"@level":[],"@message":"x"}` + "\n"}, []string{"WARN plugin output", "WARN plugin output"}},
		{"unknown level", "stderr", []string{`{"@level":"loud","@message":"x"}` + "\n"}, []string{"WARN plugin output"}},
		{"stdout not parsed", "stdout", []string{`{"@level":"error","@message":"x"}` + "\n"}, []string{"INFO plugin output"}},
		{"blank lines", "stdout", []string{"\n\r\n  \n"}, nil},
		{"no newline until flush", "stdout", []string{"tail"}, []string{"INFO plugin output"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			w := newLogWriter(slog.New(r), tc.stream, tc.stream == "stderr")
			for _, s := range tc.in {
				w.Write([]byte(s))
			}
			w.Flush()
			var got []string
			for _, rec := range r.recs {
				got = append(got, rec.Level.String()+" "+rec.Message)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogWriterBounds(t *testing.T) {
	r := &recorder{}
	w := newLogWriter(slog.New(r), "stderr", true)
	attrs := strings.Repeat(`"k":"v",`, 10)
	for i := range 40 {
		attrs += `"k` + string(rune('a'+i%26)) + string(rune('a'+i/26)) + `":"` + strings.Repeat("x", 1000) + `",`
	}
	w.Write([]byte(`{` + attrs + `"@level":"info","@message":"` + strings.Repeat("m", 10000) + `\u0001"}` + "\n"))
	w.Write(bytes.Repeat([]byte("y"), 3*maxLine))
	w.Write([]byte("\n"))
	if len(r.recs) != 2 {
		t.Fatalf("%d records", len(r.recs))
	}
	checkRecord(t, r.recs[0])
	if r.recs[0].NumAttrs() != 1 {
		t.Errorf("attributes outside the plugin group: %d", r.recs[0].NumAttrs())
	}
	r.recs[1].Attrs(func(a slog.Attr) bool {
		if a.Key == "truncated" && !a.Value.Bool() {
			t.Error("a cut line is not marked")
		}
		return true
	})
	checkRecord(t, r.recs[1])
}

// checkRecord fails t if a record breaks the writer's bounds.
func checkRecord(t testing.TB, rec slog.Record) {
	t.Helper()
	if len(rec.Message) > maxMessage+8 || strings.ContainsAny(rec.Message, "\n\r\x00") {
		t.Fatalf("message of %d bytes or with control characters", len(rec.Message))
	}
	n := 0
	var walk func(a slog.Attr)
	walk = func(a slog.Attr) {
		n++
		if a.Value.Kind() == slog.KindGroup {
			for _, g := range a.Value.Group() {
				walk(g)
			}
			return
		}
		if s := a.Value.String(); len(s) > maxMessage+8 {
			t.Fatalf("attribute %s of %d bytes", a.Key, len(s))
		}
	}
	rec.Attrs(func(a slog.Attr) bool { walk(a); return true })
	if n > maxAttrs+4 {
		t.Fatalf("%d attributes", n)
	}
}

// FuzzLogWriter: whatever a plugin writes, the writer neither panics nor
// emits a record beyond its bounds. Seeds are in testdata/fuzz.
func FuzzLogWriter(f *testing.F) {
	f.Add([]byte(`{"@level":"info","@message":"hi","k":{"a":[1,2]}}`+"\n"), uint8(7))
	f.Add([]byte("panic: x\ngoroutine 1\n"), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		r := &recorder{}
		w := newLogWriter(slog.New(r), "stderr", true)
		step := int(split%64) + 1
		for i := 0; i < len(data); i += step {
			w.Write(data[i:min(i+step, len(data))])
		}
		w.Flush()
		for _, rec := range r.recs {
			checkRecord(t, rec)
		}
		if len(w.Tail()) > tailLines {
			t.Fatal("tail grew")
		}
	})
}
