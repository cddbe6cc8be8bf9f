package testenv

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// SAMLForge describes a SAML Response for tests to build by hand, signed
// with any key: what a real IdP would send, or an attacker. Zero fields
// take the values of a valid response; the booleans say what is signed.
type SAMLForge struct {
	Issuer       string // the IdP's entity ID
	Destination  string // the ACS URL; also the Recipient unless set
	Recipient    string
	Audience     string // the SP's entity ID
	InResponseTo string // on the Response and the SubjectConfirmationData
	NameID       string
	NameIDFormat string    // default persistent
	Now          time.Time // IssueInstant (default time.Now())
	NotBefore    time.Time // Conditions (default Now-1m)
	NotOnOrAfter time.Time // Conditions and SubjectConfirmationData (default Now+5m)
	Attributes   map[string][]string
	// SplitAttributes sends each value in an Attribute element of its own,
	// as some IdPs do for groups.
	SplitAttributes bool
	AssertionID     string // default random
	Status          string // default Success; another makes an error response without assertion

	SignResponse, SignAssertion bool
	Key                         *rsa.PrivateKey
	Cert                        *x509.Certificate
	// SHA1 signs with RSA-SHA1 instead of RSA-SHA256.
	SHA1 bool
}

// Assertion returns the assertion element, signed if SignAssertion.
func (f SAMLForge) Assertion() (*etree.Element, error) {
	f.defaults()
	format := f.NameIDFormat
	if format == "" {
		format = string(csaml.PersistentNameIDFormat)
	}
	var attrs []csaml.Attribute
	for name, vals := range f.Attributes {
		a := csaml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}
		for _, v := range vals {
			a.Values = append(a.Values, csaml.AttributeValue{Type: "xs:string", Value: v})
			if f.SplitAttributes {
				attrs, a.Values = append(attrs, a), nil
			}
		}
		if !f.SplitAttributes {
			attrs = append(attrs, a)
		}
	}
	a := &csaml.Assertion{
		ID: f.AssertionID, IssueInstant: f.Now, Version: "2.0",
		Issuer: csaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: f.Issuer},
		Subject: &csaml.Subject{
			NameID: &csaml.NameID{Format: format, Value: f.NameID},
			SubjectConfirmations: []csaml.SubjectConfirmation{{
				Method: "urn:oasis:names:tc:SAML:2.0:cm:bearer",
				SubjectConfirmationData: &csaml.SubjectConfirmationData{
					InResponseTo: f.InResponseTo, NotOnOrAfter: f.NotOnOrAfter, Recipient: f.Recipient,
				},
			}},
		},
		Conditions: &csaml.Conditions{
			NotBefore: f.NotBefore, NotOnOrAfter: f.NotOnOrAfter,
			AudienceRestrictions: []csaml.AudienceRestriction{{Audience: csaml.Audience{Value: f.Audience}}},
		},
		AuthnStatements: []csaml.AuthnStatement{{
			AuthnInstant: f.Now, SessionIndex: "idx-" + randomHex(8),
			AuthnContext: csaml.AuthnContext{AuthnContextClassRef: &csaml.AuthnContextClassRef{
				Value: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}},
		}},
	}
	if len(attrs) > 0 {
		a.AttributeStatements = []csaml.AttributeStatement{{Attributes: attrs}}
	}
	if !f.SignAssertion {
		return a.Element(), nil
	}
	sig, err := f.sign(a.Element())
	if err != nil {
		return nil, err
	}
	a.Signature = sig
	return a.Element(), nil
}

// Response returns the Response element with the assertion (unless
// Status is an error), signed if SignResponse.
func (f SAMLForge) Response() (*etree.Element, error) {
	f.defaults()
	r := &csaml.Response{
		ID: "resp-" + randomHex(12), InResponseTo: f.InResponseTo, Version: "2.0", IssueInstant: f.Now,
		Destination: f.Destination,
		Issuer:      &csaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: f.Issuer},
		Status:      csaml.Status{StatusCode: csaml.StatusCode{Value: f.Status}},
	}
	var assertion *etree.Element
	if f.Status == csaml.StatusSuccess {
		var err error
		if assertion, err = f.Assertion(); err != nil {
			return nil, err
		}
	} else {
		r.Status.StatusCode.StatusCode = &csaml.StatusCode{Value: "urn:oasis:names:tc:SAML:2.0:status:AuthnFailed"}
		r.Status.StatusMessage = &csaml.StatusMessage{Value: "no <b>such</b> user"}
	}
	build := func() *etree.Element {
		el := r.Element()
		if assertion != nil {
			el.AddChild(assertion.Copy())
		}
		return el
	}
	if f.SignResponse {
		sig, err := f.sign(build())
		if err != nil {
			return nil, err
		}
		r.Signature = sig
	}
	return build(), nil
}

// Encode returns the Response as the SAMLResponse form value.
func (f SAMLForge) Encode() (string, error) {
	el, err := f.Response()
	if err != nil {
		return "", err
	}
	return EncodeSAML(el)
}

// EncodeSAML serializes el and base64-encodes it, as the HTTP-POST
// binding does.
func EncodeSAML(el *etree.Element) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(el)
	b, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSAML parses a SAMLResponse form value.
func DecodeSAML(v string) (*etree.Document, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return nil, err
	}
	return doc, nil
}

func (f *SAMLForge) defaults() {
	if f.Now.IsZero() {
		f.Now = time.Now().UTC()
	}
	if f.NotBefore.IsZero() {
		f.NotBefore = f.Now.Add(-time.Minute)
	}
	if f.NotOnOrAfter.IsZero() {
		f.NotOnOrAfter = f.Now.Add(5 * time.Minute)
	}
	if f.Recipient == "" {
		f.Recipient = f.Destination
	}
	if f.AssertionID == "" {
		f.AssertionID = "asr-" + randomHex(12)
	}
	if f.Status == "" {
		f.Status = csaml.StatusSuccess
	}
}

// sign returns the enveloped Signature for el, which the caller puts in
// its place (after the Issuer) as crewjam's IdP does.
func (f SAMLForge) sign(el *etree.Element) (*etree.Element, error) {
	if f.Key == nil || f.Cert == nil {
		return nil, fmt.Errorf("SAMLForge: signing needs Key and Cert")
	}
	ctx, err := dsig.NewSigningContext(f.Key, [][]byte{f.Cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	method := dsig.RSASHA256SignatureMethod
	if f.SHA1 {
		method = dsig.RSASHA1SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		return nil, err
	}
	signed, err := ctx.SignEnveloped(el)
	if err != nil {
		return nil, err
	}
	return signed.ChildElements()[len(signed.ChildElements())-1], nil
}
