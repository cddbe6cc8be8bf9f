package core

import (
	"testing"
	"time"
)

// TestAddrLimiter: a burst of five seconds' worth, then the rate; each
// address on its own; the wait said is until the next token.
func TestAddrLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := NewAddrLimiter(2, func() time.Time { return now })
	for i := range 10 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("past the burst: %v, wait %v; want refused, 500ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another address was refused")
	}
	now = now.Add(time.Second) // two tokens back
	for i := range 2 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("after a second, request %d refused", i)
		}
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("a third request in that second allowed")
	}
	if NewAddrLimiter(0, time.Now) != nil {
		t.Fatal("rate 0 made a limiter")
	}
}
