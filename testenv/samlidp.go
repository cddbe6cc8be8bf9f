package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"
)

// SAMLUser is a person at the test IdP.
type SAMLUser struct {
	Login, Password string
	// NameID is the persistent NameID: opaque and stable, as a real IdP
	// makes it.
	NameID string
	Email  string
	Name   string
	Groups []string
}

// The test IdP's people. Attributes are sent with Microsoft's claim URIs
// (email, display name, UPN as username, groups).
var (
	SAMLAlice = SAMLUser{Login: "alice", Password: "alice-saml-pw", NameID: "3f6c1a8e-alice-persistent",
		Email: "alice@idp.example", Name: "Alice Saml", Groups: []string{"admins", "staff", "Ünïcode group"}}
	SAMLBob = SAMLUser{Login: "bob", Password: "bob-saml-pw", NameID: "9b2d44f0-bob-persistent",
		Email: "bob@idp.example", Name: "Bob Saml", Groups: []string{"staff"}}
)

// Attribute names the test IdP sends.
const (
	SAMLAttrEmail    = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	SAMLAttrName     = "http://schemas.microsoft.com/identity/claims/displayname"
	SAMLAttrUsername = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	SAMLAttrGroups   = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
)

// SAMLIdP is a SAML 2.0 identity provider on loopback, built on crewjam's
// saml.IdentityProvider: it serves its metadata, takes AuthnRequests with
// the HTTP-Redirect and HTTP-POST bindings, shows a login form, and posts
// signed (and, when the SP publishes an encryption key, encrypted)
// responses to the SP's ACS. It can rotate its signing key, and its
// metadata endpoint can be taken down.
//
// Service providers are registered from their metadata, with no
// authentication: for tests only.
type SAMLIdP struct {
	URL         string // base URL
	MetadataURL string
	SSOURL      string

	mu    sync.RWMutex // guards idp's key and certificates against RotateKey
	idp   csaml.IdentityProvider
	key   *rsa.PrivateKey
	cert  *x509.Certificate
	sps   map[string]*csaml.EntityDescriptor
	users map[string]SAMLUser

	metadataDown  atomic.Bool
	metadataFetch atomic.Int64
	srv           *http.Server
}

// StartSAMLIdP runs an IdP with SAMLAlice and SAMLBob on a fresh loopback
// port, until the test ends.
func StartSAMLIdP(t testing.TB) *SAMLIdP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	s := &SAMLIdP{
		URL: base, MetadataURL: base + "/metadata", SSOURL: base + "/sso",
		sps:   map[string]*csaml.EntityDescriptor{},
		users: map[string]SAMLUser{SAMLAlice.Login: SAMLAlice, SAMLBob.Login: SAMLBob},
	}
	s.key, s.cert, err = NewSAMLKeyPair("test idp")
	if err != nil {
		t.Fatal(err)
	}
	at := func(p string) url.URL { u, _ := url.Parse(base + p); return *u }
	var logw io.Writer = io.Discard
	if os.Getenv("PORTICO_TEST_LOG") != "" {
		logw = tWriter{t}
	}
	s.idp = csaml.IdentityProvider{
		Key: s.key, Certificate: s.cert, Logger: log.New(logw, "samlidp: ", 0),
		MetadataURL: at("/metadata"), SSOURL: at("/sso"), LoginURL: at("/sso"),
		SessionProvider: s, ServiceProviderProvider: s,
		NameIDFormats: []csaml.NameIDFormat{csaml.PersistentNameIDFormat},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metadata", s.serveMetadata)
	mux.HandleFunc("/sso", s.locked(func(w http.ResponseWriter, r *http.Request) { s.idp.ServeSSO(w, r) }))
	// IdP-initiated: POST user, password, sp (entity ID), RelayState.
	mux.HandleFunc("/initiate", s.locked(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s.idp.ServeIDPInitiated(w, r, r.Form.Get("sp"), r.Form.Get("RelayState"))
	}))
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *SAMLIdP) locked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		h(w, r)
	}
}

func (s *SAMLIdP) serveMetadata(w http.ResponseWriter, r *http.Request) {
	s.metadataFetch.Add(1)
	if s.metadataDown.Load() {
		http.Error(w, "metadata is down", http.StatusServiceUnavailable)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.idp.ServeMetadata(w, r)
}

// EntityID is the IdP's entity ID (its metadata URL).
func (s *SAMLIdP) EntityID() string { return s.MetadataURL }

// SigningKey returns the key and certificate the IdP signs with now.
func (s *SAMLIdP) SigningKey() (*rsa.PrivateKey, *x509.Certificate) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.key, s.cert
}

// MetadataFetches counts GETs of the metadata, served or not.
func (s *SAMLIdP) MetadataFetches() int64 { return s.metadataFetch.Load() }

// SetMetadataDown makes the metadata endpoint answer 503 (or serve again).
// Logins at the IdP go on.
func (s *SAMLIdP) SetMetadataDown(down bool) { s.metadataDown.Store(down) }

// RotateKey makes the IdP sign with a new key from now on. With keepOld,
// its metadata still lists the old certificate as well, as in an orderly
// rollover; without, only the new one.
func (s *SAMLIdP) RotateKey(keepOld bool) error {
	key, cert, err := NewSAMLKeyPair("test idp")
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.idp.ExtraCertificates = nil
	if keepOld {
		s.idp.ExtraCertificates = []*x509.Certificate{s.cert}
	}
	s.key, s.cert, s.idp.Key, s.idp.Certificate = key, cert, key, cert
	return nil
}

// RegisterSP fetches a service provider's metadata (Portico serves it at
// /metadata/{connector}) and trusts that SP from now on.
func (s *SAMLIdP) RegisterSP(ctx context.Context, metadataURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", metadataURL, resp.Status)
	}
	return s.RegisterSPMetadata(b)
}

// RegisterSPMetadata trusts the service provider that metadata describes.
func (s *SAMLIdP) RegisterSPMetadata(metadata []byte) error {
	var ed csaml.EntityDescriptor
	if err := xml.Unmarshal(metadata, &ed); err != nil {
		return fmt.Errorf("SP metadata: %w", err)
	}
	if ed.EntityID == "" || len(ed.SPSSODescriptors) == 0 {
		return errors.New("SP metadata: no entityID or SPSSODescriptor")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sps[ed.EntityID] = &ed
	return nil
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (s *SAMLIdP) GetServiceProvider(_ *http.Request, id string) (*csaml.EntityDescriptor, error) {
	// Called under s.mu's read lock, from the handlers.
	if ed := s.sps[id]; ed != nil {
		return ed, nil
	}
	return nil, os.ErrNotExist
}

var samlLoginForm = template.Must(template.New("login").Parse(`<!doctype html>
<title>Test IdP login</title>
<p>{{.Toast}}</p>
<form method="post" action="{{.URL}}">
<input type="text" name="user"><input type="password" name="password">
<input type="hidden" name="SAMLRequest" value="{{.SAMLRequest}}">
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{with .SP}}<input type="hidden" name="sp" value="{{.}}">{{end}}
<input type="submit" value="Log in">
</form>`))

// GetSession implements saml.SessionProvider: a login form, every time
// (no IdP session), whose post carries the request again.
func (s *SAMLIdP) GetSession(w http.ResponseWriter, r *http.Request, req *csaml.IdpAuthnRequest) *csaml.Session {
	toast := ""
	if r.Method == http.MethodPost && r.ParseForm() == nil && r.PostForm.Get("user") != "" {
		u, ok := s.users[r.PostForm.Get("user")]
		if ok && u.Password == r.PostForm.Get("password") {
			return s.session(u)
		}
		toast = "Invalid username or password"
	}
	data := map[string]string{"Toast": toast, "URL": s.SSOURL, "RelayState": req.RelayState}
	if len(req.RequestBuffer) > 0 {
		data["SAMLRequest"] = base64.StdEncoding.EncodeToString(req.RequestBuffer)
	} else {
		data["URL"], data["SP"] = s.URL+"/initiate", r.Form.Get("sp")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	samlLoginForm.Execute(w, data)
	return nil
}

func (s *SAMLIdP) session(u SAMLUser) *csaml.Session {
	now := time.Now()
	str := func(name string, vals ...string) csaml.Attribute {
		a := csaml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}
		for _, v := range vals {
			a.Values = append(a.Values, csaml.AttributeValue{Type: "xs:string", Value: v})
		}
		return a
	}
	return &csaml.Session{
		ID: randomHex(16), CreateTime: now, ExpireTime: now.Add(time.Hour), Index: randomHex(16),
		NameID: u.NameID, NameIDFormat: string(csaml.PersistentNameIDFormat),
		CustomAttributes: []csaml.Attribute{
			str(SAMLAttrEmail, u.Email), str(SAMLAttrName, u.Name), str(SAMLAttrUsername, u.Login),
			str(SAMLAttrGroups, u.Groups...),
		},
	}
}

// NewSAMLKeyPair makes an RSA key and a self-signed certificate for it,
// valid for a day.
func NewSAMLKeyPair(cn string) (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
