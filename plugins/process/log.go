package process

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/portico-idp/portico/plugins/internal/logline"
)

// Bounds on what a plugin can put in the broker's log: a plugin is not
// trusted to be well behaved, and its output must not flood or forge the
// broker's log.
const (
	maxLine    = 64 << 10 // longer lines are cut
	maxMessage = logline.MaxMessage
	maxAttrs   = logline.MaxAttrs
	tailLines  = 5
)

// logWriter turns what a plugin writes on one stream into broker log
// records, a line at a time. Lines in hclog's JSON format (what
// sdk/plugin's logger writes) keep their level, message and attributes;
// anything else is logged as a raw line.
//
// go-plugin has a parser of its own for this, but it panics on a line such
// as {"@message":1} (an unchecked type assertion), which would take the
// broker down; so its logger is switched off and this one used instead.
type logWriter struct {
	log    *slog.Logger
	stream string
	parse  bool // hclog JSON is expected (stderr)

	mu      sync.Mutex
	buf     []byte
	cut     bool // the current line overflowed maxLine
	inPanic bool // a Go panic is being printed: its stack is an error too
	tail    []string
}

func newLogWriter(log *slog.Logger, stream string, parse bool) *logWriter {
	return &logWriter{log: log, stream: stream, parse: parse}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLine - len(w.buf); len(chunk) > room {
			chunk, w.cut = chunk[:room], true
		}
		w.buf = append(w.buf, chunk...)
		if i < 0 {
			break
		}
		w.line()
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs a last line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line()
	}
}

// Tail returns the last few lines, for an error message when the plugin
// fails at start.
func (w *logWriter) Tail() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.tail)
}

func (w *logWriter) line() {
	b := bytes.TrimRight(w.buf, "\r")
	cut := w.cut
	w.buf, w.cut = w.buf[:0], false
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	ctx := context.Background()
	if w.parse && !cut {
		if r, ok := parseHCLog(b); ok {
			w.remember(r.msg)
			w.log.LogAttrs(ctx, r.level, r.msg, slog.Attr{Key: "plugin", Value: slog.GroupValue(r.attrs...)})
			return
		}
	}
	text := printable(string(b), maxMessage)
	w.remember(text)
	level := slog.LevelInfo
	if w.stream == "stderr" {
		// Well-behaved plugins log through their logger; a bare line on
		// stderr is a crash report or a library talking.
		level = slog.LevelWarn
		if strings.HasPrefix(text, "panic: ") || strings.HasPrefix(text, "fatal error: ") {
			w.inPanic = true
		}
		if w.inPanic {
			level = slog.LevelError
		}
	}
	attrs := []slog.Attr{slog.String("stream", w.stream), slog.String("line", text)}
	if cut {
		attrs = append(attrs, slog.Bool("truncated", true))
	}
	w.log.LogAttrs(ctx, level, "plugin output", attrs...)
}

func (w *logWriter) remember(s string) {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	w.tail = append(w.tail, s)
	if len(w.tail) > tailLines {
		w.tail = w.tail[1:]
	}
}

// record is one parsed hclog line.
type record struct {
	level slog.Level
	msg   string
	attrs []slog.Attr
}

// parseHCLog parses one line of hclog JSON: an object with string
// "@level" and "@message". Its other fields become attributes (sorted,
// bounded); "@timestamp" and "@caller" are dropped, the broker stamps its
// own time.
func parseHCLog(line []byte) (record, bool) {
	m, ok := logline.Object(line)
	if !ok {
		return record{}, false
	}
	lvl, ok1 := m["@level"].(string)
	msg, ok2 := m["@message"].(string)
	if !ok1 || !ok2 {
		return record{}, false
	}
	var r record
	switch strings.ToLower(lvl) {
	case "trace", "debug":
		r.level = slog.LevelDebug
	case "info":
		r.level = slog.LevelInfo
	case "warn", "warning":
		r.level = slog.LevelWarn
	case "error":
		r.level = slog.LevelError
	default:
		return record{}, false
	}
	r.msg = printable(msg, maxMessage)
	r.attrs = logline.Attrs(m, func(k string) bool {
		return k == "@level" || k == "@message" || k == "@timestamp" || k == "@caller"
	})
	return r, true
}

// printable is logline.Printable.
func printable(s string, max int) string { return logline.Printable(s, max) }
