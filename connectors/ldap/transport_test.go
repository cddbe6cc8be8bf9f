package ldap_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/ldap"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

func TestTLS(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, s.CAPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := testenv.NewSlapdCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig := func(url string, startTLS bool) ldap.Config {
		cfg := baseConfig(s)
		cfg.URL, cfg.StartTLS, cfg.InsecureNoTLS = url, startTLS, false
		return cfg
	}

	ok := []struct {
		name string
		cfg  func() ldap.Config
		warn string
	}{
		{"ldaps, root_ca_data", func() ldap.Config { c := tlsConfig(s.LDAPSURL(), false); c.RootCAData = string(s.CAPEM()); return c }, ""},
		{"ldaps, root_ca file", func() ldap.Config { c := tlsConfig(s.LDAPSURL(), false); c.RootCA = caFile; return c }, ""},
		{"starttls", func() ldap.Config { c := tlsConfig(s.URL(), true); c.RootCAData = string(s.CAPEM()); return c }, ""},
		{"ldaps, both CAs", func() ldap.Config {
			c := tlsConfig(s.LDAPSURL(), false)
			c.RootCA, c.RootCAData = caFile, string(other.CertPEM)
			return c
		}, ""},
		{"ldaps, insecure_skip_verify", func() ldap.Config { c := tlsConfig(s.LDAPSURL(), false); c.InsecureSkipVerify = true; return c }, "insecure_skip_verify"},
		{"plain, insecure_no_tls", func() ldap.Config { return baseConfig(s) }, "insecure_no_tls"},
	}
	for _, tt := range ok {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg()
			c, logs := newConnector(t, cfg)
			login(t, c, testenv.LDAPAlice)
			_, overTLS, err := ldap.PooledWhoAmI(context.Background(), c)
			if err != nil || overTLS != !cfg.InsecureNoTLS {
				t.Errorf("pooled connection over TLS: %v, %v", overTLS, err)
			}
			if tt.warn != "" && !strings.Contains(logs.String(), "level=WARN msg=\"ldap: "+tt.warn) {
				t.Errorf("no warning about %s:\n%s", tt.warn, logs)
			}
		})
	}

	refused := []struct {
		name string
		cfg  ldap.Config
	}{
		{"ldaps, other CA", func() ldap.Config {
			c := tlsConfig(s.LDAPSURL(), false)
			c.RootCAData = string(other.CertPEM)
			return c
		}()},
		{"starttls, other CA", func() ldap.Config { c := tlsConfig(s.URL(), true); c.RootCAData = string(other.CertPEM); return c }()},
		{"ldaps, system roots", tlsConfig(s.LDAPSURL(), false)},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ldap.New(context.Background(), tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), "config.root_ca") || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("New with an untrusted certificate: %v", err)
			}
		})
	}

	t.Run("plain ldap needs insecure_no_tls", func(t *testing.T) {
		_, err := ldap.New(context.Background(), tlsConfig(s.URL(), false), nil)
		if err == nil || !strings.Contains(err.Error(), "config.url") {
			t.Errorf("New with plain ldap://: %v", err)
		}
	})

	// A connector made while the directory was down meets the certificate
	// at the first login: unavailable, with the reason in the error.
	t.Run("untrusted at login", func(t *testing.T) {
		s.Kill()
		cfg := tlsConfig(s.LDAPSURL(), false)
		cfg.RootCAData = string(other.CertPEM)
		c, _ := newConnector(t, cfg)
		s.Start()
		_, err := c.Login(context.Background(), withGroups, testenv.LDAPAlice.UID, testenv.LDAPAlice.Password)
		if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Errorf("Login with an untrusted certificate: %v", err)
		}
	})
}

// A directory that dies, hangs or comes back: logins fail with
// ErrUnavailable while it is gone, and work again when it is back, on the
// same connector.
func TestDirectoryDownAndBack(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.Timeout = ldap.Duration(time.Second)
	cfg.ConnectTimeout = ldap.Duration(time.Second)
	c, _ := newConnector(t, cfg)
	ctx := context.Background()
	alice := testenv.LDAPAlice
	id := login(t, c, alice)

	unavailable := func(t *testing.T, what string) {
		t.Helper()
		if _, err := c.Login(ctx, withGroups, alice.UID, alice.Password); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("%s: Login = %v, want ErrUnavailable", what, err)
		}
		if _, err := c.Login(ctx, withGroups, alice.UID, "wrong"); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("%s: Login with a wrong password = %v, want ErrUnavailable (not wrong password)", what, err)
		}
		if _, err := c.Refresh(ctx, withGroups, id); !errors.Is(err, sdk.ErrUnavailable) || errors.Is(err, sdk.ErrUserGone) {
			t.Errorf("%s: Refresh = %v, want ErrUnavailable (not user gone)", what, err)
		}
	}
	works := func(t *testing.T, what string) {
		t.Helper()
		if got, err := c.Login(ctx, withGroups, alice.UID, alice.Password); err != nil || got.Subject != id.Subject {
			t.Errorf("%s: Login = %v", what, err)
		}
		if _, err := c.Refresh(ctx, withGroups, id); err != nil {
			t.Errorf("%s: Refresh = %v", what, err)
		}
	}

	t.Run("killed", func(t *testing.T) {
		s.Kill()
		unavailable(t, "slapd killed")
	})
	t.Run("restarted", func(t *testing.T) {
		s.Start()
		works(t, "slapd restarted")
	})
	t.Run("restarted under idle connections", func(t *testing.T) {
		// Pooled connections die with the server; the next login must
		// not fail on one of them.
		s.Kill()
		s.Start()
		works(t, "slapd restarted while connections were pooled")
	})
	t.Run("hung", func(t *testing.T) {
		// A stopped slapd still accepts TCP connections (the kernel
		// does) and never answers: only timeouts end the wait.
		s.Freeze()
		defer s.Thaw()
		unavailable(t, "slapd frozen")
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := c.Login(ctx, withGroups, alice.UID, alice.Password); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("Login with a short context: %v", err)
		}
	})
	t.Run("thawed", func(t *testing.T) {
		works(t, "slapd thawed")
	})
	t.Run("closed", func(t *testing.T) {
		c.Close()
		if _, err := c.Login(ctx, withGroups, alice.UID, alice.Password); !errors.Is(err, sdk.ErrUnavailable) {
			t.Errorf("Login after Close: %v", err)
		}
	})
}

// The pool keeps its connections: many logins, few dials.
func TestPoolReuse(t *testing.T) {
	s := testenv.StartSlapd(t, testenv.SlapdOptions{})
	cfg := baseConfig(s)
	cfg.PoolSize = 2
	c, _ := newConnector(t, cfg)
	var dials int
	ldap.CountDials(c, func() { dials++ }) // one goroutine: no lock needed
	for range 20 {
		login(t, c, testenv.LDAPAlice)
	}
	if dials != 0 {
		t.Errorf("%d dials for 20 sequential logins after New, want 0 (the one from New reused)", dials)
	}
}
