package testenv

import (
	"fmt"
	"net"
	"net/smtp"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mpRecorder records a helper's skips and fatals instead of acting on
// them.
type mpRecorder struct {
	testing.TB
	skips, fatals []string
}

func (r *mpRecorder) Skip(args ...any) {
	r.skips = append(r.skips, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *mpRecorder) Fatal(args ...any) {
	r.fatals = append(r.fatals, fmt.Sprint(args...))
	runtime.Goexit()
}
func (r *mpRecorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

func (r *mpRecorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

func TestMissingMailpitSkipsOrFailsInCI(t *testing.T) {
	t.Setenv("PORTICO_MAILPIT", t.TempDir()+"/no-mailpit")
	start := func(tb testing.TB) { StartMailpit(tb, MailpitOptions{}) }
	t.Setenv("CI", "")
	r := &mpRecorder{TB: t}
	r.run(start)
	if len(r.skips) != 1 || len(r.fatals) != 0 || !strings.Contains(r.skips[0], "no-mailpit") {
		t.Errorf("without CI: skips %q, fatals %q", r.skips, r.fatals)
	}
	t.Setenv("CI", "true")
	r = &mpRecorder{TB: t}
	r.run(start)
	if len(r.fatals) != 1 || len(r.skips) != 0 || !strings.Contains(r.fatals[0], "CI=true") {
		t.Errorf("with CI=true: skips %q, fatals %q", r.skips, r.fatals)
	}
}

// The Makefile and .ci/run install the mailpit these helpers expect.
func TestMailpitVersion(t *testing.T) {
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MAILPIT_VERSION := (\S+)$`).FindSubmatch(b)
	if m == nil || string(m[1]) != MailpitVersion {
		t.Errorf("the Makefile's MAILPIT_VERSION is %q, MailpitVersion %q", m, MailpitVersion)
	}
}

// Stop makes the SMTP port refuse connections; Start brings mailpit back
// on the same ports with the messages it had.
func TestMailpitStopStart(t *testing.T) {
	mp := StartMailpit(t, MailpitOptions{})
	addr := net.JoinHostPort(mp.SMTPHost(), strconv.Itoa(mp.SMTPPort()))
	send := func(subject string) error {
		return smtp.SendMail(addr, nil, "a@example.com", []string{"b@example.org"},
			[]byte("Subject: "+subject+"\r\n\r\nbody\r\n"))
	}
	if err := send("one"); err != nil {
		t.Fatal(err)
	}
	mp.WaitMessages(t, 1)
	mp.Stop()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("the SMTP port still takes connections after Stop")
	}
	mp.Start()
	if err := send("two"); err != nil {
		t.Fatal(err)
	}
	list := mp.WaitMessages(t, 2)
	if len(list) != 2 || list[0].Subject != "two" || list[1].Subject != "one" {
		t.Errorf("messages after a restart: %+v", list)
	}
}
