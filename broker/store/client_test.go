package store

import (
	"testing"
	"time"
)

func TestClientNewerThan(t *testing.T) {
	created := time.Date(2026, 12, 7, 12, 0, 5, 700_000_000, time.UTC)
	c := Client{CreatedAt: created}
	for _, tc := range []struct {
		name string
		t    time.Time
		want bool
	}{
		{"a second earlier", created.Add(-time.Second), true},
		{"the same second, before the creation", created.Add(-500 * time.Millisecond), false}, // whole seconds: iat
		{"the creation", created, false},
		{"later", created.Add(time.Minute), false},
		{"an access token's iat of that second", created.Truncate(time.Second), false},
		{"undated", time.Time{}, false},
	} {
		if got := c.NewerThan(tc.t); got != tc.want {
			t.Errorf("%s: NewerThan(%v) = %v, want %v", tc.name, tc.t, got, tc.want)
		}
	}
	if (Client{}).NewerThan(created) {
		t.Error("an undated client is newer than something")
	}
}
