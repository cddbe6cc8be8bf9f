package saml_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// The broker's URLs for a connector "corp"; nothing listens there, the
// tests post the IdP's responses to HandleCallback themselves.
const (
	acsURL      = "https://portico.test/callback/corp"
	spEntityID  = "https://portico.test/metadata/corp"
	relayState  = "pending-request-id"
	loginStateC = "corp"
)

type fixture struct {
	idp  *testenv.SAMLIdP
	c    *saml.Connector
	logs *testenv.LogBuffer
}

// newFixture starts a test IdP and a connector on its metadata URL, and
// registers the connector's SP metadata at the IdP.
func newFixture(t *testing.T, mutate func(*saml.Config)) *fixture {
	t.Helper()
	idp := testenv.StartSAMLIdP(t)
	cfg := saml.Config{IDPMetadataURL: idp.MetadataURL, InsecureAllowHTTP: true}
	if mutate != nil {
		mutate(&cfg)
	}
	f := &fixture{idp: idp, logs: &testenv.LogBuffer{}}
	f.c = newConnector(t, cfg, f.logs)
	f.register(t)
	return f
}

func newConnector(t testing.TB, cfg saml.Config, logs *testenv.LogBuffer) *saml.Connector {
	t.Helper()
	c, err := saml.New(context.Background(), cfg, saml.Env{
		ID: loginStateC, ACSURL: acsURL, MetadataURL: spEntityID, DataDir: t.TempDir(),
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *fixture) register(t testing.TB) {
	t.Helper()
	md, err := f.c.Metadata(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.idp.RegisterSPMetadata(md.Body); err != nil {
		t.Fatal(err)
	}
}

// start begins a login, as the broker's /login/{connector} does.
func (f *fixture) start(t testing.TB) sdk.Redirect {
	t.Helper()
	rd, err := f.c.LoginURL(context.Background(), sdk.Scopes{Groups: true}, acsURL, relayState)
	if err != nil {
		t.Fatal(err)
	}
	return rd
}

// idpLogin runs a login at the IdP and returns the login's Redirect and
// the response the IdP posts to the ACS.
func (f *fixture) idpLogin(t testing.TB, u testenv.SAMLUser) (sdk.Redirect, testenv.SAMLPost) {
	t.Helper()
	rd := f.start(t)
	post, err := f.idp.Login(context.Background(), nil, rd, u.Login, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	return rd, post
}

// callback hands a posted response to the connector, as the broker's
// callback route does.
func (f *fixture) callback(data []byte, samlResponse string) (sdk.Identity, error) {
	return f.c.HandleCallback(context.Background(), sdk.Scopes{Groups: true}, sdk.CallbackRequest{
		Method: http.MethodPost, URL: acsURL, Form: map[string][]string{"SAMLResponse": {samlResponse}, "RelayState": {relayState}}, Data: data,
	})
}

// forge returns a valid response for the login rd started, signed by the
// IdP's current key, for tests to spoil.
func (f *fixture) forge(rd sdk.Redirect) testenv.SAMLForge {
	key, cert := f.idp.SigningKey()
	return testenv.SAMLForge{
		Issuer: f.idp.EntityID(), Destination: acsURL, Audience: spEntityID, InResponseTo: saml.RequestID(rd.Data),
		NameID: testenv.SAMLAlice.NameID, Attributes: map[string][]string{testenv.SAMLAttrEmail: {testenv.SAMLAlice.Email}},
		SignResponse: true, SignAssertion: true, Key: key, Cert: cert,
	}
}

func encode(t testing.TB, fg testenv.SAMLForge) string {
	t.Helper()
	s, err := fg.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rejected checks err is a rejection mentioning want, and that neither
// the error nor the logs carry the response.
func rejected(t *testing.T, f *fixture, err error, want string) {
	t.Helper()
	t.Logf("rejected: %v", err)
	var re *saml.RejectedError
	switch {
	case err == nil:
		t.Fatalf("accepted; want a rejection for %q", want)
	case !errors.Is(err, sdk.ErrInvalidCredentials) || !errors.As(err, &re):
		t.Fatalf("error %v (%T) is no RejectedError wrapping sdk.ErrInvalidCredentials", err, err)
	case !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)):
		t.Errorf("error %q does not say %q", err, want)
	}
	for _, leak := range []string{"<samlp:", "<saml:", "Assertion xmlns", "SignatureValue"} {
		if strings.Contains(err.Error(), leak) || strings.Contains(f.logs.String(), leak) {
			t.Errorf("the response leaked into the error or the logs: %q\n%s", err, f.logs)
		}
	}
}

func fetch(u string) ([]byte, error) {
	resp, err := http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
