package testenv

// A real OpenLDAP server for the LDAP connector's tests: slapd runs as a
// plain process (not a service) on free loopback ports, with its config,
// database, certificates and log in the test's temporary directory, and is
// stopped when the test ends. See /work/shared/notes/toolchain.md, section
// OpenLDAP, for the facts this relies on.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

const (
	slapdPath        = "/usr/sbin/slapd"
	slapdLDAPAddPath = "/usr/bin/ldapadd"
	// slapdReadyTimeout bounds a start; slapd is usually ready in 0.25 s.
	slapdReadyTimeout = time.Minute // a liveness bound: under a CPU hog starts take longer
)

// SlapdOptions configures StartSlapd. The zero value loads the fixture.
type SlapdOptions struct {
	// LDIF, if not empty, is loaded instead of testdata/ldap/fixture.ldif.
	// It must create LDAPBaseDN.
	LDIF string
}

// Slapd is a running OpenLDAP server.
type Slapd struct {
	t         testing.TB
	dir       string
	conf      string
	logPath   string
	ldapPort  int
	ldapsPort int
	caPEM     []byte
	// rootPW is this instance's rootdn password, random: the start-up
	// check binds with it, so another test's slapd that took the port
	// (same fixture, same users) cannot pass for this one.
	rootPW string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not running
	exited chan struct{} // closed when cmd has exited
	frozen bool
}

// StartSlapd starts slapd with the fixture loaded and stops it when the test
// ends. It serves ldap:// (StartTLS available) and ldaps:// with a
// certificate for 127.0.0.1 signed by a CA made for the test (CAPEM).
//
// Without slapd the test is skipped, with the reason, unless the environment
// has CI=true: there a missing slapd fails the test, so that CI cannot pass
// by running no LDAP test at all. When slapd is missing and the test runs as
// root on a system with apt-get, StartSlapd first tries to install the
// Debian packages slapd and ldap-utils.
func StartSlapd(t testing.TB, opts SlapdOptions) *Slapd {
	t.Helper()
	slapdRequire(t)
	s := &Slapd{t: t, dir: t.TempDir(), rootPW: "root-" + rand.Text()}
	s.conf = filepath.Join(s.dir, "slapd.conf")
	s.logPath = filepath.Join(s.dir, "slapd.log")
	caPEM, err := slapdWriteTLS(s.dir)
	if err != nil {
		t.Fatalf("slapd: %v", err)
	}
	s.caPEM = caPEM
	if err := os.Mkdir(filepath.Join(s.dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := slapdWriteConf(s.conf, s.dir, s.rootPW); err != nil {
		t.Fatalf("slapd: writing slapd.conf: %v", err)
	}

	// The ports are free when chosen but another process may take them
	// before slapd binds them: try again with new ones.
	for attempt := 1; ; attempt++ {
		if s.ldapPort, s.ldapsPort, err = slapdFreePorts(); err != nil {
			t.Fatalf("slapd: %v", err)
		}
		err = s.start()
		if err == nil {
			break
		}
		if attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			t.Fatalf("slapd: %v", err)
		}
	}
	t.Cleanup(s.Stop)

	ldif := opts.LDIF
	if ldif == "" {
		ldif = slapdFixture
	}
	if err := s.load(ldif); err != nil {
		t.Fatalf("slapd: loading LDIF: %v", err)
	}
	return s
}

// URL is the plain-LDAP address (StartTLS is available on it).
func (s *Slapd) URL() string { return fmt.Sprintf("ldap://127.0.0.1:%d", s.ldapPort) }

// LDAPSURL is the LDAP-over-TLS address.
func (s *Slapd) LDAPSURL() string { return fmt.Sprintf("ldaps://127.0.0.1:%d", s.ldapsPort) }

// CAPEM is the PEM certificate of the CA that signed the server's
// certificate.
func (s *Slapd) CAPEM() []byte { return s.caPEM }

// Log returns what slapd has logged so far (stats level: one line per
// connection, operation and result, so every BIND and its DN).
func (s *Slapd) Log() string {
	b, _ := os.ReadFile(s.logPath)
	return string(b)
}

// Stop stops slapd (SIGTERM, then SIGKILL after 5 s). Stopping a stopped
// server does nothing.
func (s *Slapd) Stop() {
	cmd, exited := s.take()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(slapdSigCont) // a frozen slapd would not act on SIGTERM
	cmd.Process.Signal(slapdSigTerm)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Kill kills slapd with SIGKILL, as a crash would, and waits for it to be
// gone. Clients see their connections reset.
func (s *Slapd) Kill() {
	cmd, exited := s.take()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-exited
}

// Start starts slapd again after Stop or Kill, on the same ports and with
// the same data.
func (s *Slapd) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("slapd: restart: %v", err)
	}
}

// Freeze stops slapd with SIGSTOP: the kernel still accepts connections on
// its ports, but nothing answers. It is how a hung directory looks.
func (s *Slapd) Freeze() { s.signal(slapdSigStop, true) }

// Thaw resumes a frozen slapd.
func (s *Slapd) Thaw() { s.signal(slapdSigCont, false) }

// RootConn returns a connection bound as the rootdn, closed at the end of
// the test, for changing the directory under a test.
func (s *Slapd) RootConn(t testing.TB) *goldap.Conn {
	t.Helper()
	c, err := goldap.DialURL(s.URL(), goldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
	if err != nil {
		t.Fatalf("slapd: dial: %v", err)
	}
	c.SetTimeout(10 * time.Second)
	t.Cleanup(func() { c.Close() })
	if err := c.Bind(LDAPRootDN, s.rootPW); err != nil {
		t.Fatalf("slapd: bind as %s: %v", LDAPRootDN, err)
	}
	return c
}

func (s *Slapd) signal(sig os.Signal, frozen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.cmd.Process.Signal(sig)
		s.frozen = frozen
		if frozen {
			slapdWaitStopped(s.cmd.Process.Pid)
		}
	}
}

func (s *Slapd) take() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cmd, exited := s.cmd, s.exited
	s.cmd, s.exited, s.frozen = nil, nil, false
	return cmd, exited
}

// start runs slapd and waits until it answers a root DSE search.
func (s *Slapd) start() error {
	s.mu.Lock()
	running := s.cmd != nil
	s.mu.Unlock()
	if running {
		return errors.New("slapd is already running")
	}
	// -F with an empty directory makes slapd convert slapd.conf afresh
	// instead of reading a cn=config left by an earlier start.
	cfgDir := filepath.Join(s.dir, "slapd.d")
	if err := os.RemoveAll(cfgDir); err != nil {
		return err
	}
	if err := os.Mkdir(cfgDir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "=== testenv: starting slapd at %s\n", time.Now().Format(time.RFC3339Nano))

	// -d 256 keeps slapd in the foreground and logs stats; -d 0 would hide
	// start-up errors.
	urls := s.URL() + " " + s.LDAPSURL()
	cmd := exec.Command(slapdPath, "-d", "256", "-h", urls, "-f", s.conf, "-F", cfgDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = slapdSysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	deadline := time.Now().Add(slapdReadyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("slapd exited during start-up: %s\nlog:\n%s", cmd.ProcessState, s.logTail())
		default:
		}
		if err = s.ping(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("slapd not ready after %v: %v\nlog:\n%s", slapdReadyTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

func (s *Slapd) ping() error {
	c, err := goldap.DialURL(s.URL(), goldap.DialWithDialer(&net.Dialer{Timeout: time.Second}))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetTimeout(time.Second)
	// This instance's root password: a slapd of another test that took
	// the port between its choice and this one's bind refuses it.
	return c.Bind(LDAPRootDN, s.rootPW)
}

// load adds ldif with ldapadd as the rootdn. It runs against the live server
// (not slapadd) so that the memberof overlay fills in memberOf.
func (s *Slapd) load(ldif string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, slapdLDAPAddPath, "-x", "-e", "relax", "-H", s.URL(), "-D", LDAPRootDN, "-w", s.rootPW)
	cmd.Stdin = strings.NewReader(ldif)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ldapadd: %v\n%s", err, slapdTail(string(out), 40))
	}
	return nil
}

func (s *Slapd) logTail() string { return slapdTail(s.Log(), 30) }

func slapdTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func slapdFreePorts() (int, int, error) {
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports[0], ports[1], nil
}

// slapdConfTmpl is slapd.conf: schemas for inetOrgPerson, posixGroup and
// groupOfUniqueNames; the memberof overlay (before any data, or memberOf
// stays empty); ACLs that let the service account, users and anonymous read
// everything but passwords.
//
// "allow bind_anon_dn" makes slapd accept a DN with an empty password as
// an (unauthenticated) successful bind, as many servers do; the connector
// must refuse empty passwords itself, and the tests prove it against this.
var slapdConfTmpl = template.Must(template.New("slapd.conf").Parse(`
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema

# Active Directory's userAccountControl (same OID and syntax as AD's), on
# an auxiliary class, so that AD-shaped accounts can live in slapd.
attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'porticoTestADUser'
  AUXILIARY MAY userAccountControl )

pidfile  {{.Dir}}/slapd.pid
argsfile {{.Dir}}/slapd.args

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
moduleload ppolicy

TLSCACertificateFile  {{.Dir}}/ca.pem
TLSCertificateFile    {{.Dir}}/server.pem
TLSCertificateKeyFile {{.Dir}}/server.key

allow bind_anon_dn

database mdb
suffix    "{{.Base}}"
rootdn    "{{.RootDN}}"
rootpw    {{.RootPW}}
directory {{.Dir}}/db
maxsize   104857600
index objectClass,uid,mail,member,uniqueMember,memberUid,entryUUID eq

# The service account gets at most {{.SizeLimit}} entries per search
# (LDAPSizeLimit), so that a search for more must page (RFC 2696); paged
# searches have no total limit.
limits dn.exact="{{.ServiceDN}}" size.soft={{.SizeLimit}} size.hard={{.SizeLimit}} size.prtotal=unlimited

overlay memberof
memberof-group-oc    groupOfNames
memberof-member-ad   member
memberof-memberof-ad memberOf
memberof-refint      TRUE

# Password policy (draft-behera): expiry, must-change after reset and
# lockout, with the accountLocked answer in the response control.
overlay ppolicy
ppolicy_default    "{{.Policy}}"
ppolicy_use_lockout

access to attrs=userPassword
  by anonymous auth
  by self write
  by * none
access to *
  by * read
`))

func slapdWriteConf(path, dir, rootPW string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = slapdConfTmpl.Execute(f, map[string]string{
		"Dir": dir, "Base": LDAPBaseDN, "RootDN": LDAPRootDN, "RootPW": rootPW,
		"ServiceDN": LDAPServiceDN, "SizeLimit": fmt.Sprint(LDAPSizeLimit), "Policy": LDAPPolicyDN,
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// slapdRequire skips (or, with CI=true, fails) the test when slapd or
// ldapadd is missing, after trying to install them if it can.
func slapdRequire(t testing.TB) {
	t.Helper()
	missing := slapdMissing()
	if missing != "" && os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			slapdInstall.once.Do(func() { slapdInstall.err = slapdAptInstall() })
			missing = slapdMissing()
			if missing != "" && slapdInstall.err != nil {
				missing += "; apt-get install failed: " + slapdInstall.err.Error()
			}
		}
	}
	if missing == "" {
		return
	}
	msg := "LDAP TESTS NOT RUN: " + missing +
		". Install the Debian packages slapd and ldap-utils (see testenv/slapd.go)."
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " CI=true: running without slapd is a failure.")
	}
	t.Skip(msg)
}

var slapdInstall struct {
	once sync.Once
	err  error
}

func slapdMissing() string {
	var missing []string
	for _, p := range []string{slapdPath, slapdLDAPAddPath, "/etc/ldap/schema/inetorgperson.schema"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return "missing " + strings.Join(missing, ", ")
}

// slapdAptInstall installs slapd without its debconf questions and without
// letting the package configure (or start) a system directory.
func slapdAptInstall() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if name == "debconf-set-selections" {
			cmd.Stdin = strings.NewReader("slapd slapd/no_configuration boolean true\n")
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, slapdTail(string(out), 5))
		}
		return nil
	}
	if err := run("debconf-set-selections"); err != nil {
		return err
	}
	install := []string{"-o", "DPkg::Lock::Timeout=120", "install", "-y", "--no-install-recommends", "slapd", "ldap-utils"}
	if run("apt-get", install...) == nil {
		return nil
	}
	// Fresh containers often have no package lists yet.
	if err := run("apt-get", "-o", "DPkg::Lock::Timeout=120", "update"); err != nil {
		return err
	}
	return run("apt-get", install...)
}
