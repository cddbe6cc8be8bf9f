package broker_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/local"
	"github.com/portico-idp/portico/plugins/process/processtest"
	"github.com/portico-idp/portico/testenv"
)

// portico is a `portico serve` child process.
type portico struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{}
}

// buildPortico builds cmd/portico once per test binary (processtest
// caches it; TestMain removes it), with the test binary's race flag.
func buildPortico(t *testing.T) string {
	t.Helper()
	return processtest.Build(t, "github.com/portico-idp/portico/cmd/portico", porticoBuildFlags...)
}

// startPortico runs `portico serve` with cfgPath until the test ends and
// waits until it serves; its output is shown if the test fails.
func startPortico(t *testing.T, bin, cfgPath, url string) *portico {
	t.Helper()
	return startWithLog(t, bin, cfgPath, url).portico
}

// loggedPortico is a `portico serve` process whose log the test reads.
type loggedPortico struct {
	*portico
	log *testenv.LogBuffer
}

// startWithLog runs `portico serve` with cfgPath until the test ends,
// keeping its output for the test to read, and waits until it serves.
func startWithLog(t *testing.T, bin, cfgPath, issuer string) *loggedPortico {
	t.Helper()
	logs := &testenv.LogBuffer{}
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &loggedPortico{&portico{cmd: cmd, url: issuer, exited: make(chan struct{})}, logs}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("portico's log:\n%s", logs)
		}
	})
	deadline := time.Now().Add(30 * time.Second) // a readiness wait, not a performance check
	for {
		if st, err := statusOf(issuer + "/.well-known/openid-configuration"); err == nil && st == http.StatusOK {
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("portico exited at start: %v\n%s", cmd.ProcessState, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("portico did not serve discovery:\n%s", logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL: no graceful shutdown, no flush.
func (p *portico) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// serveConfig writes a `portico serve` configuration listening on addr
// with storage (a YAML mapping), the local connector with alice, the
// confidential test client (code flow and refresh), and extra YAML lines,
// and returns its path.
func serveConfig(t *testing.T, addr, storage, extra string) string {
	t.Helper()
	hash, err := local.Hash(testenv.UserPassword, testenv.FastParams)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "portico.yaml")
	if err := os.WriteFile(cfgPath, fmt.Appendf(nil, `issuer: http://%[1]s
listen: %[1]s
storage: %[2]s
connectors: [{id: local, type: local}]
clients:
  - {id: %[3]s, secret: %[4]s, redirect_uris: ["%[5]s"], grant_types: [authorization_code, refresh_token]}
users:
  - {username: %[6]s, email: %[7]s, password_hash: "%[8]s"}
log: {level: warn}
%[9]s
`, addr, storage, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI, testenv.UserName, testenv.UserEmail, hash, extra), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgPath
}

// TestRevocationSurvivesKill is acceptance 3 of the token service: once
// /revoke answered 200, a SIGKILL of the server does not bring the token back.
func TestRevocationSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the portico binary")
	}
	ctx := context.Background()
	bin := buildPortico(t)
	addr := freeAddr(t)
	cfgPath := serveConfig(t, addr, fmt.Sprintf("{type: badger, dir: %s}", t.TempDir()), "")

	p := startPortico(t, bin, cfgPath, "http://"+addr)
	b := &testenv.Broker{URL: p.url}
	rp, err := testenv.NewRP(ctx, p.url, testenv.ClientID, testenv.ClientSecret, testenv.RedirectURI)
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := rp.Login(ctx, testenv.UserName, testenv.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	revoke(t, b, first.RefreshToken, "refresh_token") // ends the first session
	revoke(t, b, second.AccessToken, "access_token")  // denies one JWT
	p.kill()

	startPortico(t, bin, cfgPath, "http://"+addr)
	for name, tok := range map[string]string{
		"revoked refresh token":           first.RefreshToken,
		"access token of revoked session": first.AccessToken,
		"revoked access token":            second.AccessToken,
	} {
		if active(t, b, tok) {
			t.Errorf("%s is active again after SIGKILL", name)
		}
	}
	if !active(t, b, second.RefreshToken) {
		t.Error("an unrevoked refresh token was lost")
	}
}
