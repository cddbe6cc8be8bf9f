package saml_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"errors"
	"log"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"

	"github.com/portico-idp/portico/connectors/saml"
	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/testenv"
)

// Acceptance 2: each way a response can be bad is refused, with a reason,
// as sdk.ErrInvalidCredentials. The forged responses are signed with the
// IdP's own key unless the test is about the key, so each is refused for
// the one thing it gets wrong; TestForgedBaseline shows the unspoiled one
// passes.

func TestForgedBaseline(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	id, err := f.callback(rd.Data, encode(t, f.forge(rd)))
	if err != nil || id.Subject != testenv.SAMLAlice.NameID || id.Email != testenv.SAMLAlice.Email {
		t.Fatalf("%+v, %v", id, err)
	}
}

func TestRejectUnsigned(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	fg.SignResponse, fg.SignAssertion = false, false
	_, err := f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "signature")
}

func TestRejectUnknownKey(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	var err error
	if fg.Key, fg.Cert, err = testenv.NewSAMLKeyPair("attacker"); err != nil {
		t.Fatal(err)
	}
	_, err = f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "signature")
	if !errors.Is(err, csaml.ErrUntrustedCertificate) {
		t.Errorf("%v does not match saml.ErrUntrustedCertificate", err)
	}
}

// TestRejectSignatureWrapping: a validly signed response with a second,
// forged assertion put where a careless reader would take it from.
func TestRejectSignatureWrapping(t *testing.T) {
	f := newFixture(t, nil)
	evilOf := func(t *testing.T, rd sdk.Redirect) *etree.Element {
		fg := f.forge(rd)
		fg.NameID, fg.SignAssertion = "evil-admin", false
		a, err := fg.Assertion()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name         string
		signResponse bool
		wrap         func(t *testing.T, resp, evil *etree.Element) *etree.Element
	}{
		{"evil assertion before the signed one", false, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			resp.InsertChildAt(resp.SelectElement("Assertion").Index(), evil)
			return resp
		}},
		{"evil assertion after the signed one", false, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			resp.AddChild(evil)
			return resp
		}},
		{"signed assertion hidden in the evil one's Signature, evil takes its ID and signature", false, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			good := resp.SelectElement("Assertion")
			resp.RemoveChild(good)
			evil.CreateAttr("ID", good.SelectAttrValue("ID", ""))
			sig := good.SelectElement("Signature").Copy()
			obj := sig.CreateElement("ds:Object")
			obj.AddChild(good)
			evil.InsertChildAt(evil.SelectElement("Subject").Index(), sig)
			resp.AddChild(evil)
			return resp
		}},
		{"evil assertion signed by reference to the good one's ID", false, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			good := resp.SelectElement("Assertion")
			evil.InsertChildAt(evil.SelectElement("Subject").Index(), good.SelectElement("Signature").Copy())
			ext := resp.CreateElement("samlp:Extensions")
			ext.AddChild(good)
			resp.AddChild(evil)
			return resp
		}},
		{"evil assertion added to a signed response", true, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			resp.AddChild(evil)
			return resp
		}},
		{"signed response wrapped in an unsigned one", true, func(t *testing.T, resp, evil *etree.Element) *etree.Element {
			outer := resp.Copy()
			for _, c := range outer.ChildElements() {
				if c.Tag == "Signature" || c.Tag == "Assertion" {
					outer.RemoveChild(c)
				}
			}
			outer.AddChild(evil)
			outer.CreateElement("samlp:Extensions").AddChild(resp)
			return outer
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := f.start(t)
			fg := f.forge(rd)
			fg.SignResponse, fg.SignAssertion = tc.signResponse, !tc.signResponse
			resp, err := fg.Response()
			if err != nil {
				t.Fatal(err)
			}
			v, err := testenv.EncodeSAML(tc.wrap(t, resp, evilOf(t, rd)))
			if err != nil {
				t.Fatal(err)
			}
			id, err := f.callback(rd.Data, v)
			if id.Subject == "evil-admin" {
				t.Fatal("logged in as the injected assertion's subject")
			}
			rejected(t, f, err, "")
		})
	}
}

// TestSignedContentOnly: a comment put into a signed NameID leaves the
// signature valid (canonicalization drops comments), and the subject is
// the whole value as signed, not the text before the comment.
func TestSignedContentOnly(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	fg.NameID, fg.SignResponse = "admin.attacker.example", false
	resp, err := fg.Response()
	if err != nil {
		t.Fatal(err)
	}
	nid := resp.FindElement(".//NameID")
	nid.SetText("admin")
	nid.CreateComment("injected")
	nid.CreateText(".attacker.example")
	id, err := f.callback(rd.Data, mustEncode(t, resp))
	if err != nil || id.Subject != "admin.attacker.example" {
		t.Fatalf("subject %q, %v: want the value as signed", id.Subject, err)
	}
}

func mustEncode(t *testing.T, el *etree.Element) string {
	t.Helper()
	v, err := testenv.EncodeSAML(el)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRejectExpired(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now().UTC()
	for name, spoil := range map[string]func(*testenv.SAMLForge){
		// Issued long ago: crewjam/saml's MaxIssueDelay.
		"issued 10 minutes ago": func(fg *testenv.SAMLForge) {
			fg.Now, fg.NotBefore, fg.NotOnOrAfter = now.Add(-10*time.Minute), now.Add(-11*time.Minute), now.Add(-5*time.Minute)
		},
		// Fresh, but expired 100s ago: past the 90s skew, within
		// crewjam/saml's own 180s.
		"expired 100s ago": func(fg *testenv.SAMLForge) {
			fg.Now, fg.NotBefore, fg.NotOnOrAfter = now.Add(-30*time.Second), now.Add(-time.Minute), now.Add(-100*time.Second)
		},
	} {
		t.Run(name, func(t *testing.T) {
			rd := f.start(t)
			fg := f.forge(rd)
			spoil(&fg)
			_, err := f.callback(rd.Data, encode(t, fg))
			rejected(t, f, err, "expire")
		})
	}
}

func TestRejectNotYetValid(t *testing.T) {
	f := newFixture(t, nil)
	now := time.Now().UTC()
	rd := f.start(t)
	fg := f.forge(rd)
	fg.NotBefore = now.Add(2 * time.Minute) // beyond 90s, within crewjam/saml's 180s
	_, err := f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "not valid before")

	rd = f.start(t)
	fg = f.forge(rd)
	fg.Now, fg.NotBefore = now.Add(2*time.Minute), now.Add(2*time.Minute)
	_, err = f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "future")

	// Within the skew: accepted.
	rd = f.start(t)
	fg = f.forge(rd)
	fg.Now, fg.NotBefore = now.Add(time.Minute), now.Add(time.Minute)
	if _, err := f.callback(rd.Data, encode(t, fg)); err != nil {
		t.Errorf("60s ahead, within the 90s skew: %v", err)
	}
	// A smaller skew refuses it.
	g := newFixture(t, func(c *saml.Config) { c.ClockSkew = saml.Duration(30 * time.Second) })
	rd = g.start(t)
	fg = g.forge(rd)
	fg.Now, fg.NotBefore = now.Add(time.Minute), now.Add(time.Minute)
	_, err = g.callback(rd.Data, encode(t, fg))
	rejected(t, g, err, "beyond the clock skew")
}

func TestRejectWrongAudience(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	fg.Audience = "https://another-sp.example/metadata"
	_, err := f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "audience")
}

func TestRejectWrongRecipient(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	fg.Recipient = "https://another-sp.example/acs"
	_, err := f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "recipient")
}

// TestRejectOtherRequest: a response to one login cannot finish another,
// whether the IdP made it or it was forged.
func TestRejectOtherRequest(t *testing.T) {
	f := newFixture(t, nil)
	_, post := f.idpLogin(t, testenv.SAMLAlice) // answers request 1
	rd2 := f.start(t)
	_, err := f.callback(rd2.Data, post.Fields.Get("SAMLResponse"))
	rejected(t, f, err, "InResponseTo")

	rd3, rd4 := f.start(t), f.start(t)
	_, err = f.callback(rd4.Data, encode(t, f.forge(rd3)))
	rejected(t, f, err, "InResponseTo")
}

// TestRejectUsedRequest: a request has one answer; a second response to
// it, even a fresh and valid one, is refused.
func TestRejectUsedRequest(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	if _, err := f.callback(rd.Data, encode(t, f.forge(rd))); err != nil {
		t.Fatal(err)
	}
	_, err := f.callback(rd.Data, encode(t, f.forge(rd)))
	rejected(t, f, err, "already used")

	// Spent even when its first answer failed.
	rd = f.start(t)
	_, err = f.callback(rd.Data, "bm90IHhtbA==")
	rejected(t, f, err, "")
	_, err = f.callback(rd.Data, encode(t, f.forge(rd)))
	rejected(t, f, err, "already used")
}

// TestRejectReplay: an accepted response posted again is refused; for an
// IdP-initiated one (no request to spend) the assertion ID does it.
func TestRejectReplay(t *testing.T) {
	f := newFixture(t, func(c *saml.Config) {
		c.IDPInitiated = saml.IDPInitiated{Enabled: true, DefaultClientID: "app", DefaultRedirectURI: "https://app.test/cb"}
	})
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	v := post.Fields.Get("SAMLResponse")
	if _, err := f.callback(rd.Data, v); err != nil {
		t.Fatal(err)
	}
	_, err := f.callback(rd.Data, v)
	rejected(t, f, err, "already used")

	fg := f.forge(rd)
	fg.InResponseTo = ""
	v = encode(t, fg)
	if _, err := f.callback(nil, v); err != nil {
		t.Fatal(err)
	}
	_, err = f.callback(nil, v)
	rejected(t, f, err, "assertion already used")
}

func TestRejectErrorStatus(t *testing.T) {
	f := newFixture(t, nil)
	for _, signed := range []bool{false, true} {
		rd := f.start(t)
		fg := f.forge(rd)
		fg.Status, fg.SignResponse = "urn:oasis:names:tc:SAML:2.0:status:Responder", signed
		_, err := f.callback(rd.Data, encode(t, fg))
		rejected(t, f, err, "status urn:oasis:names:tc:SAML:2.0:status:Responder / urn:oasis:names:tc:SAML:2.0:status:AuthnFailed")
	}
}

// TestRejectMalformed: junk at the ACS is a clean refusal: no panic, no
// "unavailable", no 500.
func TestRejectMalformed(t *testing.T) {
	f := newFixture(t, nil)
	deflate := func(s string) string {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write([]byte(s))
		w.Close()
		return base64.StdEncoding.EncodeToString(b.Bytes())
	}
	b64 := base64.StdEncoding.EncodeToString
	tests := map[string]string{
		"not base64":        "%%%not base64%%%",
		"truncated base64":  "PHNhbWxwOlJlc3Bvbn",
		"not XML":           b64([]byte("hello, world")),
		"bad DEFLATE":       b64([]byte{0x78, 0x9c, 0xff, 0xff, 0x00}),
		"truncated XML":     b64([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x"><saml:Assertion`)),
		"deflated junk":     deflate("<notsaml/>"),
		"deflate bomb":      deflate(strings.Repeat("<a>", 3<<20)),
		"wrong root":        b64([]byte(`<foo/>`)),
		"DOCTYPE entities":  b64([]byte(`<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&b;</samlp:Response>`)),
		"empty response":    b64([]byte(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`)),
		"huge":              strings.Repeat("A", 2<<20),
		"deeply nested XML": b64([]byte(strings.Repeat("<a>", 100000) + strings.Repeat("</a>", 100000))),
	}
	for name, v := range tests {
		t.Run(name, func(t *testing.T) {
			rd := f.start(t)
			_, err := f.callback(rd.Data, v)
			rejected(t, f, err, "")
		})
	}
	for name, req := range map[string]sdk.CallbackRequest{
		"GET":               {Method: http.MethodGet, Query: map[string][]string{"SAMLResponse": {b64([]byte("<x/>"))}}},
		"no SAMLResponse":   {Method: http.MethodPost, Form: map[string][]string{"RelayState": {"x"}}},
		"two SAMLResponses": {Method: http.MethodPost, Form: map[string][]string{"SAMLResponse": {"a", "b"}}},
		"artifact":          {Method: http.MethodPost, Form: map[string][]string{"SAMLart": {"AAQAAA=="}}},
		"data not ours":     {Method: http.MethodPost, Form: map[string][]string{"SAMLResponse": {"PHgvPg=="}}, Data: []byte("{")},
		"request from 2020": {Method: http.MethodPost, Form: map[string][]string{"SAMLResponse": {"PHgvPg=="}}, Data: []byte(`{"rid":"id-1","iat":1600000000}`)},
	} {
		t.Run(name, func(t *testing.T) {
			if req.Data == nil {
				req.Data = f.start(t).Data
			}
			req.URL = acsURL
			_, err := f.c.HandleCallback(context.Background(), sdk.Scopes{}, req)
			rejected(t, f, err, "")
		})
	}
}

// TestRequireSignature: which element must be signed.
func TestRequireSignature(t *testing.T) {
	for _, tc := range []struct {
		mode                        string
		responseOnly, assertionOnly bool // accepted?
	}{
		{"either", true, true},
		{"response", true, false},
		{"assertion", false, true},
		{"both", false, false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			f := newFixture(t, func(c *saml.Config) { c.RequireSignature = tc.mode })
			for _, s := range []struct {
				resp, asr, want bool
			}{{true, false, tc.responseOnly}, {false, true, tc.assertionOnly}, {true, true, true}} {
				rd := f.start(t)
				fg := f.forge(rd)
				fg.SignResponse, fg.SignAssertion = s.resp, s.asr
				_, err := f.callback(rd.Data, encode(t, fg))
				if s.want && err != nil {
					t.Errorf("response signed %v, assertion signed %v: %v", s.resp, s.asr, err)
				} else if !s.want {
					rejected(t, f, err, "require_signature: "+tc.mode)
				}
			}
		})
	}
}

func TestRejectSHA1(t *testing.T) {
	f := newFixture(t, nil)
	rd := f.start(t)
	fg := f.forge(rd)
	fg.SHA1 = true
	_, err := f.callback(rd.Data, encode(t, fg))
	rejected(t, f, err, "")

	g := newFixture(t, func(c *saml.Config) { c.AllowSHA1Signatures = true })
	rd = g.start(t)
	fg = g.forge(rd)
	fg.SHA1 = true
	if _, err := g.callback(rd.Data, encode(t, fg)); err != nil {
		t.Errorf("allow_sha1_signatures: %v", err)
	}
}

// TestNothingLogsTheResponse: crewjam/saml's service provider writes
// nothing to the standard logger, and the connector's logs and errors
// carry no XML, for a rejected response and an accepted one.
func TestNothingLogsTheResponse(t *testing.T) {
	var std bytes.Buffer
	old := log.Writer()
	log.SetOutput(&std)
	defer log.SetOutput(old)
	f := newFixture(t, nil)
	rd, post := f.idpLogin(t, testenv.SAMLAlice)
	v := post.Fields.Get("SAMLResponse")
	doc, _ := testenv.DecodeSAML(v)
	doc.Root().CreateAttr("Destination", "https://elsewhere.example/acs")
	spoiled := mustEncode(t, doc.Root())
	_, err := f.callback(rd.Data, spoiled)
	rejected(t, f, err, "signature")
	rd, post = f.idpLogin(t, testenv.SAMLAlice)
	if _, err := f.callback(rd.Data, post.Fields.Get("SAMLResponse")); err != nil {
		t.Fatal(err)
	}
	if std.Len() > 0 {
		t.Errorf("the standard logger got %q", std.String())
	}
	if strings.Contains(f.logs.String(), "<") {
		t.Errorf("XML in the connector's logs:\n%s", f.logs)
	}
}
