package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

func checkAlice(t *testing.T, id sdk.Identity) {
	t.Helper()
	a := testenv.SAMLAlice
	if id.Subject != a.NameID || id.Email != a.Email || id.Name != a.Name || id.Username != a.Login ||
		id.PreferredUsername != a.Login || id.EmailVerified || !slices.Equal(id.Groups, a.Groups) {
		t.Errorf("identity %+v", id)
	}
}

// TestLoginRedirectBinding: an SP-initiated login with the HTTP-Redirect
// binding, and an encrypted assertion, gives alice's identity; the
// RelayState is the broker's state.
func TestLoginRedirectBinding(t *testing.T) {
	f := newFixture(t, nil)
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	u, err := url.Parse(rd.URL)
	if err != nil || rd.PostForm != nil || !strings.HasPrefix(rd.URL, f.idp.SSOURL+"?") ||
		u.Query().Get("SAMLRequest") == "" || u.Query().Get("RelayState") != relayState || u.Query().Has("Signature") {
		t.Fatalf("redirect %+v", rd)
	}
	// The request is deflated XML naming the ACS URL and asking for a
	// persistent NameID.
	raw, _ := base64.StdEncoding.DecodeString(u.Query().Get("SAMLRequest"))
	x, err := io.ReadAll(flate.NewReader(bytes.NewReader(raw)))
	if err != nil || !bytes.Contains(x, []byte(`AssertionConsumerServiceURL="`+acsURL+`"`)) ||
		!bytes.Contains(x, []byte("nameid-format:persistent")) || !bytes.Contains(x, []byte(saml.RequestID(rd.Data))) {
		t.Errorf("AuthnRequest %s (%v)", x, err)
	}
	if post.Action != acsURL || post.Fields.Get("RelayState") != relayState {
		t.Fatalf("post %+v", post)
	}
	doc, _ := testenv.DecodeSAML(post.Fields.Get("SAMLResponse"))
	if doc.FindElement("//EncryptedAssertion") == nil || doc.FindElement("//Assertion") != nil {
		t.Error("the IdP did not encrypt the assertion to the SP's key")
	}
	id, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	checkAlice(t, id)

	// Another person, another subject.
	rd, post = f.idpLogin(t, testenv.SAMLBob)
	id, err = f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
	if err != nil || id.Subject != testenv.SAMLBob.NameID || !slices.Equal(id.Groups, []string{"staff"}) {
		t.Errorf("bob: %+v, %v", id, err)
	}
	if !strings.Contains(f.logs.String(), "saml: assertion accepted") {
		t.Errorf("no audit line for accepted assertions:\n%s", f.logs)
	}
}

// TestLoginSignedRequests: sign_requests sends a signed AuthnRequest with
// the HTTP-POST binding, which the IdP verifies against the SP metadata.
func TestLoginSignedRequests(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) { c.SignRequests = true })
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	if rd.URL != f.idp.SSOURL || rd.PostForm["RelayState"] != relayState {
		t.Fatalf("redirect %+v", rd)
	}
	x, _ := base64.StdEncoding.DecodeString(rd.PostForm["SAMLRequest"])
	if !bytes.Contains(x, []byte("SignatureValue")) {
		t.Errorf("the AuthnRequest is not signed: %s", x)
	}
	id, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	checkAlice(t, id)

	// The IdP refuses the same request with its signature broken.
	rd = f.start(t)
	rd.PostForm["SAMLRequest"] = base64.StdEncoding.EncodeToString(bytes.Replace(x, []byte(acsURL), []byte(acsURL+"x"), 1))
	if _, err := f.idp.Login(context.Background(), nil, rd, "alice", testenv.SAMLAlice.Password); err == nil {
		t.Error("the IdP accepted a request whose signature does not verify")
	}
}

// TestLoginExplicitIdP: an IdP given by SSO URL and certificates, one of
// them old (rollover), and an IdP given by a metadata file.
func TestLoginExplicitIdP(t *testing.T) {
	idp := testenv.StartSAMLIdP(t)
	_, cert := idp.SigningKey()
	_, other, _ := testenv.NewSAMLKeyPair("retired")
	pemOf := func(der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	certFile := filepath.Join(t.TempDir(), "idp.pem")
	os.WriteFile(certFile, []byte(pemOf(cert.Raw)), 0o600)

	resp, err := http.Get(idp.MetadataURL)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mdFile := filepath.Join(t.TempDir(), "idp-metadata.xml")
	os.WriteFile(mdFile, md, 0o600)

	for name, cfg := range map[string]saml.Config{
		"certificates":  {IDPSSOURL: idp.SSOURL, IDPEntityID: idp.EntityID(), IDPCertificates: []string{pemOf(other.Raw), pemOf(cert.Raw)}, InsecureAllowHTTP: true},
		"cert file":     {IDPSSOURL: idp.SSOURL, IDPEntityID: idp.EntityID(), IDPCertificateFiles: []string{certFile}, InsecureAllowHTTP: true},
		"metadata file": {IDPMetadataFile: mdFile},
	} {
		t.Run(name, func(t *testing.T) {
			f := &fixture{idp: idp, logs: &testenv.LogBuffer{}}
			f.c = newConnector(t, cfg, f.logs)
			f.register(t)
			rd, post := f.idpLogin(t, testenv.SAMLAlice)
			id, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
			if err != nil {
				t.Fatal(err)
			}
			checkAlice(t, id)
		})
	}
}

// TestIDPInitiated: unsolicited responses are refused unless enabled;
// enabled, one is accepted once, and never inside an SP-initiated login,
// nor a solicited one as unsolicited.
func TestIDPInitiated(t *testing.T) {
	ctx := context.Background()
	off := newFixture(t, nil)
	post, err := off.idp.Initiate(ctx, spEntityID, "", "alice", testenv.SAMLAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	_, err = off.callback(nil, post.Fields.Get("SAMLResponse"))
	rejected(t, off, err, "idp_initiated is not enabled")
	if c, r, ok := off.c.IDPInitiated(); ok || c != "" || r != "" {
		t.Errorf("IDPInitiated() = %q %q %v", c, r, ok)
	}

	f := newFixture(t, func(c *saml.Config) {
		c.IDPInitiated = saml.IDPInitiated{Enabled: true, DefaultClientID: "app", DefaultRedirectURI: "https://app.test/cb"}
	})
	if c, r, ok := f.c.IDPInitiated(); !ok || c != "app" || r != "https://app.test/cb" {
		t.Errorf("IDPInitiated() = %q %q %v", c, r, ok)
	}
	post, err = f.idp.Initiate(ctx, spEntityID, "deep/link", "alice", testenv.SAMLAlice.Password)
	if err != nil {
		t.Fatal(err)
	}
	unsolicited := post.Fields.Get("SAMLResponse")
	id, err := f.callback(nil, unsolicited)
	if err != nil {
		t.Fatal(err)
	}
	checkAlice(t, id)
	// The same response again: the assertion ID is spent.
	_, err = f.callback(nil, unsolicited)
	rejected(t, f, err, "replay")

	// A fresh unsolicited response cannot complete an SP-initiated login.
	rd := f.start(t)
	post, _ = f.idp.Initiate(ctx, spEntityID, "", "alice", testenv.SAMLAlice.Password)
	_, err = f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
	rejected(t, f, err, "InResponseTo")

	// A solicited response is not accepted as unsolicited.
	_, post = f.idpLogin(t, testenv.SAMLAlice)
	_, err = f.callback(nil, post.Fields.Get("SAMLResponse"))
	rejected(t, f, err, "InResponseTo")
}

// TestMetadataUnavailableAtStart: a connector whose IdP metadata cannot be
// fetched starts, answers logins with sdk.ErrUnavailable, and works once
// the metadata can be read.
func TestMetadataUnavailableAtStart(t *testing.T) {
	idp := testenv.StartSAMLIdP(t)
	idp.SetMetadataDown(true)
	f := &fixture{idp: idp, logs: &testenv.LogBuffer{}}
	f.c = newConnector(t, saml.Config{IDPMetadataURL: idp.MetadataURL, InsecureAllowHTTP: true}, f.logs)
	if _, err := f.c.LoginURL(context.Background(), sdk.Scopes{}, acsURL, relayState); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("LoginURL without metadata: %v", err)
	}
	if _, err := f.callback([]byte(`{"rid":"x"}`), "PHg+"); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("HandleCallback without metadata: %v", err)
	}
	// The SP metadata is there all the same: the IdP is set up from it.
	f.register(t)
	if !strings.Contains(f.logs.String(), "no IdP metadata yet") {
		t.Errorf("logs:\n%s", f.logs)
	}
	idp.SetMetadataDown(false)
	if err := f.c.RefreshMetadata(context.Background()); err != nil {
		t.Fatal(err)
	}
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	if _, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse")); err != nil {
		t.Fatal(err)
	}
}
