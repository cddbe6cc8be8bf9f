package saml_test

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/testenv"
)

// TestSPMetadata is acceptance 4: the SP metadata parses back with
// crewjam/saml and says what an IdP needs.
func TestSPMetadata(t *testing.T) {
	for _, signs := range []bool{false, true} {
		f := newFixture(t, func(c *saml.Config) { c.SignRequests = signs })
		doc, err := f.c.Metadata(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if doc.ContentType != "application/samlmetadata+xml" || !strings.HasPrefix(string(doc.Body), "<?xml") {
			t.Errorf("content type %q, body %.60q", doc.ContentType, doc.Body)
		}
		var ed csaml.EntityDescriptor
		if err := xml.Unmarshal(doc.Body, &ed); err != nil {
			t.Fatal(err)
		}
		if ed.EntityID != spEntityID || len(ed.SPSSODescriptors) != 1 {
			t.Fatalf("entity %q, %d SP descriptors", ed.EntityID, len(ed.SPSSODescriptors))
		}
		d := ed.SPSSODescriptors[0]
		if len(d.AssertionConsumerServices) != 1 || d.AssertionConsumerServices[0].Location != acsURL ||
			d.AssertionConsumerServices[0].Binding != csaml.HTTPPostBinding {
			t.Errorf("ACS %+v", d.AssertionConsumerServices)
		}
		if len(d.NameIDFormats) != 1 || d.NameIDFormats[0] != csaml.PersistentNameIDFormat {
			t.Errorf("NameID formats %v", d.NameIDFormats)
		}
		if d.AuthnRequestsSigned == nil || *d.AuthnRequestsSigned != signs || d.WantAssertionsSigned == nil || !*d.WantAssertionsSigned {
			t.Errorf("AuthnRequestsSigned %v, WantAssertionsSigned %v", d.AuthnRequestsSigned, d.WantAssertionsSigned)
		}
		uses := map[string]string{}
		for _, kd := range d.KeyDescriptors {
			uses[kd.Use] = kd.KeyInfo.X509Data.X509Certificates[0].Data
		}
		if uses["encryption"] == "" || (uses["signing"] != "") != signs || (signs && uses["signing"] != uses["encryption"]) {
			t.Errorf("key descriptors %v", uses)
		}
		if _, err := base64.StdEncoding.DecodeString(uses["encryption"]); err != nil {
			t.Error(err)
		}
		if len(d.SingleLogoutServices) != 0 {
			t.Errorf("SLO endpoints %+v: Portico does not do SAML logout", d.SingleLogoutServices)
		}
	}
}

// TestSPKeyKept: the generated key is kept in the data directory, owner
// only, and used again at the next start.
func TestSPKeyKept(t *testing.T) {
	idp := testenv.StartSAMLIdP(t)
	dir := t.TempDir()
	cfg := saml.Config{IDPMetadataURL: idp.MetadataURL, InsecureAllowHTTP: true}
	mk := func() string {
		c, err := saml.New(context.Background(), cfg, saml.Env{ID: "corp", ACSURL: acsURL, MetadataURL: spEntityID, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		doc, _ := c.Metadata(context.Background())
		cert := certRE.FindSubmatch(doc.Body)
		if cert == nil {
			t.Fatalf("no certificate in %s", doc.Body)
		}
		return string(cert[1])
	}
	first := mk()
	fi, err := os.Stat(filepath.Join(dir, "saml-corp.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if mk() != first {
		t.Error("a second start made another key")
	}
	// Given key files are used as they are.
	keyFile := filepath.Join(dir, "saml-corp.key")
	cfg.KeyFile, cfg.CertificateFile = keyFile, keyFile
	if mk() != first {
		t.Error("key_file: another key")
	}
}

// TestMetadataRotation is acceptance 3 at the connector: the IdP signs with
// a new key; logins fail until the metadata is refreshed, then work; the
// change is logged.
func TestMetadataRotation(t *testing.T) {
	f := newFixture(t, nil)
	ok := func() error {
		rd, post := f.idpLogin(t, testenv.SAMLAlice)
		_, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
		return err
	}
	if err := ok(); err != nil {
		t.Fatal(err)
	}
	if err := f.idp.RotateKey(false); err != nil {
		t.Fatal(err)
	}
	if err := ok(); !errors.Is(err, csaml.ErrUntrustedCertificate) {
		t.Fatalf("signed with a key not in the metadata yet: %v", err)
	}
	if err := f.c.RefreshMetadata(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ok(); err != nil {
		t.Fatalf("after the refresh: %v", err)
	}
	if !strings.Contains(f.logs.String(), "IdP signing certificates changed") {
		t.Errorf("no log of the change:\n%s", f.logs)
	}
	// An orderly rollover (the old certificate still listed) goes on.
	if err := f.idp.RotateKey(true); err != nil {
		t.Fatal(err)
	}
	f.c.RefreshMetadata(context.Background())
	if err := ok(); err != nil {
		t.Fatal(err)
	}
}

// TestMetadataRefreshScheduled: the refresh runs on its own schedule; a
// failed one keeps the last good metadata and logs a warning.
func TestMetadataRefreshScheduled(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) { c.IDPMetadataRefresh = saml.Duration(time.Second) })
	f.idp.RotateKey(false)
	waitFor(t, "the rotated key to be picked up", func() bool {
		rd, post := f.idpLogin(t, testenv.SAMLAlice)
		_, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse"))
		return err == nil
	})

	f.idp.SetMetadataDown(true)
	n := f.idp.MetadataFetches()
	waitFor(t, "a failed refresh", func() bool {
		return f.idp.MetadataFetches() > n && strings.Contains(f.logs.String(), "keeping the last good metadata")
	})
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	if _, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse")); err != nil {
		t.Errorf("login with the metadata endpoint down: %v", err)
	}
	if !strings.Contains(f.logs.String(), `"level":"WARN"`) {
		t.Errorf("the failed refresh is not a warning:\n%s", f.logs)
	}
	if err := f.c.RefreshMetadata(context.Background()); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("RefreshMetadata with the endpoint down: %v", err)
	}
}

var certRE = regexp.MustCompile(`<X509Certificate[^>]*>([^<]+)<`)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetadataAggregate: an EntitiesDescriptor with several IdPs needs
// idp_entity_id, which picks one.
func TestMetadataAggregate(t *testing.T) {
	idp := testenv.StartSAMLIdP(t)
	other := testenv.StartSAMLIdP(t)
	var parts []string
	for _, u := range []string{idp.MetadataURL, other.MetadataURL} {
		b, err := fetch(u)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, strings.TrimPrefix(string(b), xml.Header))
	}
	agg := `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><EntitiesDescriptor>` +
		strings.Join(parts, "") + `</EntitiesDescriptor></EntitiesDescriptor>`
	file := filepath.Join(t.TempDir(), "aggregate.xml")
	os.WriteFile(file, []byte(agg), 0o600)

	_, err := saml.New(context.Background(), saml.Config{IDPMetadataFile: file}, saml.Env{ACSURL: acsURL, MetadataURL: spEntityID})
	if err == nil || !strings.Contains(err.Error(), "set idp_entity_id") {
		t.Errorf("aggregate without idp_entity_id: %v", err)
	}
	f := &fixture{idp: other, logs: &testenv.LogBuffer{}}
	f.c = newConnector(t, saml.Config{IDPMetadataFile: file, IDPEntityID: other.EntityID()}, f.logs)
	f.register(t)
	rd, post := f.idpLogin(t, testenv.SAMLBob)
	if id, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse")); err != nil || id.Subject != testenv.SAMLBob.NameID {
		t.Fatalf("%+v, %v", id, err)
	}
	// The other IdP's responses are not trusted by this connector.
	f.idp = idp
	for _, issuer := range []string{idp.EntityID(), other.EntityID()} {
		rd = f.start(t)
		fg := f.forge(rd) // signed by idp
		fg.Issuer = issuer
		_, err = f.callback(rd.Data, encode(t, fg))
		rejected(t, f, err, "")
	}
}
