package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// The seed corpus of FuzzHandleCallback is real responses of the test IdP
// (testdata/fuzz/FuzzHandleCallback), with what is needed to accept them
// again: the SP key they are encrypted to, the IdP certificate they are
// signed with, and the moment they were made, at which the fuzzed
// connector's clock stands (testdata/fuzzenv). Seeds named ok-* are
// accepted as they are, so that mutations start deep in the validation.
// PORTICO_WRITE_SAML_SEEDS=1 go test -run TestWriteFuzzSeeds makes them
// anew.
const fuzzEnvDir = "testdata/fuzzenv"

type fuzzEnv struct {
	IDPEntityID string    `json:"idp_entity_id"`
	Time        time.Time `json:"time"`
}

func loadFuzzEnv(t testing.TB) fuzzEnv {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fuzzEnvDir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e fuzzEnv
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// fuzzConnector is a connector that trusts the seeds' IdP, at their time.
func fuzzConnector(t testing.TB, e fuzzEnv) *saml.Connector {
	t.Helper()
	key := filepath.Join(fuzzEnvDir, "sp.key")
	c, err := saml.New(context.Background(), saml.Config{
		IDPSSOURL: "https://idp.invalid/sso", IDPEntityID: e.IDPEntityID,
		IDPCertificateFiles: []string{filepath.Join(fuzzEnvDir, "idp.crt")},
		KeyFile:             key, CertificateFile: key,
		IDPInitiated: saml.IDPInitiated{Enabled: true, DefaultClientID: "app", DefaultRedirectURI: "https://app.test/cb"},
	}, saml.Env{ID: "corp", ACSURL: acsURL, MetadataURL: spEntityID})
	if err != nil {
		t.Fatal(err)
	}
	if err := saml.SetTime(c, e.Time); err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzHandleCallback: whatever is posted as SAMLResponse, with whatever
// login state, HandleCallback answers an identity with a subject or an
// sdk.ErrInvalidCredentials error of reasonable size, and never panics.
//
// An execution costs about 5ms (RSA decryption and signature checks), and
// the seeds are several KB, so minimizing a new input takes long: run it
// with -fuzzminimizetime=5s.
func FuzzHandleCallback(f *testing.F) {
	e := loadFuzzEnv(f)
	f.Fuzz(func(t *testing.T, samlResponse string, data []byte) {
		c := fuzzConnector(t, e)
		id, err := c.HandleCallback(context.Background(), sdk.Scopes{}, sdk.CallbackRequest{
			Method: http.MethodPost, URL: acsURL, Form: map[string][]string{"SAMLResponse": {samlResponse}}, Data: data,
		})
		switch {
		case err == nil && id.Subject == "":
			t.Fatalf("accepted with no subject: %+v", id)
		case err != nil && !errors.Is(err, sdk.ErrInvalidCredentials):
			t.Fatalf("error %v is not ErrInvalidCredentials", err)
		case err != nil && len(err.Error()) > 1200:
			t.Fatalf("error of %d bytes", len(err.Error()))
		}
	})
}

// TestFuzzSeeds: the committed seeds still mean what their names say.
func TestFuzzSeeds(t *testing.T) {
	e := loadFuzzEnv(t)
	dir := "testdata/fuzz/FuzzHandleCallback"
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) < 5 {
		t.Fatalf("seed corpus: %d files, %v", len(ents), err)
	}
	for _, ent := range ents {
		t.Run(ent.Name(), func(t *testing.T) {
			b, _ := os.ReadFile(filepath.Join(dir, ent.Name()))
			var resp string
			var data []byte
			lines := strings.Split(string(b), "\n")
			if _, err := fmt.Sscanf(lines[1], "string(%q)", &resp); err != nil {
				t.Fatal(err)
			}
			var d string
			if _, err := fmt.Sscanf(lines[2], "[]byte(%q)", &d); err != nil {
				t.Fatal(err)
			}
			data = []byte(d)
			id, err := fuzzConnector(t, e).HandleCallback(context.Background(), sdk.Scopes{}, sdk.CallbackRequest{
				Method: http.MethodPost, URL: acsURL, Form: map[string][]string{"SAMLResponse": {resp}}, Data: data,
			})
			if strings.HasPrefix(ent.Name(), "ok-") && (err != nil || id.Subject == "") {
				t.Errorf("not accepted: %v", err)
			} else if !strings.HasPrefix(ent.Name(), "ok-") && err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestWriteFuzzSeeds makes the seed corpus and its environment.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("PORTICO_WRITE_SAML_SEEDS") == "" {
		t.Skip("PORTICO_WRITE_SAML_SEEDS is not set")
	}
	ctx := context.Background()
	os.MkdirAll(fuzzEnvDir, 0o755)
	key, cert, err := testenv.NewSAMLKeyPair("portico test SP (fuzz seeds)")
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	keyPEM = append(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})...)
	keyFile := filepath.Join(fuzzEnvDir, "sp.key")
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(c *saml.Config) {
		c.KeyFile, c.CertificateFile = keyFile, keyFile
		c.IDPInitiated = saml.IDPInitiated{Enabled: true, DefaultClientID: "app", DefaultRedirectURI: "https://app.test/cb"}
	})
	_, idpCert := f.idp.SigningKey()
	os.WriteFile(filepath.Join(fuzzEnvDir, "idp.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idpCert.Raw}), 0o644)

	seeds := map[string][2]string{} // name: response, data
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	seeds["ok-sp-initiated-encrypted"] = [2]string{post.Fields.Get("SAMLResponse"), string(rd.Data)}
	post, err = f.idp.Initiate(ctx, spEntityID, "", "bob", testenv.SAMLBob.Password)
	if err != nil {
		t.Fatal(err)
	}
	seeds["ok-idp-initiated-encrypted"] = [2]string{post.Fields.Get("SAMLResponse"), ""}

	// The IdP encrypts only for an SP that publishes an encryption key.
	md, _ := f.c.Metadata(ctx)
	plain := regexpEncryption.ReplaceAll(md.Body, nil)
	if err := f.idp.RegisterSPMetadata(plain); err != nil {
		t.Fatal(err)
	}
	rd, post = f.idpLogin(t, testenv.SAMLAlice)
	v := post.Fields.Get("SAMLResponse")
	if doc, _ := testenv.DecodeSAML(v); doc.FindElement("//EncryptedAssertion") != nil {
		t.Fatal("still encrypted")
	}
	seeds["ok-sp-initiated-plain"] = [2]string{v, string(rd.Data)}
	raw, _ := base64.StdEncoding.DecodeString(v)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.DefaultCompression)
	w.Write(raw)
	w.Close()
	seeds["ok-sp-initiated-plain-deflated"] = [2]string{base64.StdEncoding.EncodeToString(z.Bytes()), string(rd.Data)}
	rd, _ = f.idpLogin(t, testenv.SAMLBob)
	seeds["bad-other-request"] = [2]string{v, string(rd.Data)}

	rd = f.start(t)
	fg := f.forge(rd)
	fg.SignAssertion = false
	fg.Attributes = map[string][]string{testenv.SAMLAttrGroups: {"a", "b"}, testenv.SAMLAttrName: {"Ällice"}}
	seeds["ok-forged-response-signed"] = [2]string{encode(t, fg), string(rd.Data)}
	rd = f.start(t)
	fg = f.forge(rd)
	fg.Status, fg.SignResponse = "urn:oasis:names:tc:SAML:2.0:status:Requester", false
	seeds["bad-error-status"] = [2]string{encode(t, fg), string(rd.Data)}

	env, _ := json.Marshal(fuzzEnv{IDPEntityID: f.idp.EntityID(), Time: time.Now().UTC()})
	os.WriteFile(filepath.Join(fuzzEnvDir, "env.json"), env, 0o644)
	dir := "testdata/fuzz/FuzzHandleCallback"
	os.RemoveAll(dir)
	os.MkdirAll(dir, 0o755)
	for name, s := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nstring(%q)\n[]byte(%q)\n", s[0], s[1])
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var regexpEncryption = regexp.MustCompile(`(?s)<KeyDescriptor use="encryption">.*?</KeyDescriptor>`)
