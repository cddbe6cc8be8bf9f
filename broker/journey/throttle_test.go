package journey

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portico-idp/portico/broker/store/badger"
	"github.com/portico-idp/portico/broker/throttle"
)

// TestThrottleEndsAfterHangUp: an attempt whose browser went away is still
// ended in the throttle's counters; before, its release failed with the
// request's context, and the attempt counted as a failure until it
// lapsed (found by a black-box test: four abandoned logins, then 429).
func TestThrottleEndsAfterHangUp(t *testing.T) {
	st, err := badger.Open(badger.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	l, err := throttle.New(st, throttle.Policy{FreeFailures: -1, BaseDelay: time.Hour, MaxDelay: time.Hour}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	j := &Server{opts: Options{Throttle: l}, log: slog.New(slog.DiscardHandler)}
	k := throttle.Login("carol")
	for _, end := range []func(*gin.Context){
		func(c *gin.Context) { j.throttleRelease(c, k) },
		func(c *gin.Context) { j.throttleSucceed(c, k) },
	} {
		ctx, hangUp := context.WithCancel(context.Background())
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequestWithContext(ctx, "POST", "/login", nil)
		if d, err := l.Check(ctx, k); err != nil || !d.Allowed {
			t.Fatalf("Check: %+v, %v", d, err)
		}
		hangUp()
		end(c)
		if d, err := l.Peek(context.Background(), k); err != nil || !d.Allowed {
			t.Errorf("after the attempt ended with the browser gone: %+v, %v; want allowed", d, err)
		}
	}
	// A guess whose sender hung up counts.
	ctx, hangUp := context.WithCancel(context.Background())
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequestWithContext(ctx, "POST", "/login", nil)
	l.Check(ctx, k)
	hangUp()
	j.throttleFail(c, k)
	if d, err := l.Peek(context.Background(), k); err != nil || d.Allowed {
		t.Errorf("after a failure with the sender gone: %+v, %v; want refused", d, err)
	}
}
