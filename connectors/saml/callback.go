package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"

	"github.com/portico-idp/portico/sdk"
)

const (
	// maxResponseSize bounds a decoded (and inflated) response; the broker
	// reads at most 1 MiB of form.
	maxResponseSize = 1 << 20
	dsigNS          = "http://www.w3.org/2000/09/xmldsig#"
	bearerMethod    = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
)

// RejectedError is why a response was refused. It wraps
// sdk.ErrInvalidCredentials, and the crewjam/saml error when there is one
// (saml.ErrExpired and the like). The IDs are as the response claims them,
// for finding the login in the IdP's logs; nothing else of the response is
// kept.
type RejectedError struct {
	Reason      string
	ResponseID  string
	AssertionID string // "" when encrypted and not decrypted
	Encrypted   bool
	cause       error
}

func (e *RejectedError) Error() string {
	var b strings.Builder
	b.WriteString("saml: response rejected: ")
	b.WriteString(e.Reason)
	if e.ResponseID != "" {
		fmt.Fprintf(&b, " (response %q", e.ResponseID)
		if e.AssertionID != "" {
			fmt.Fprintf(&b, ", assertion %q", e.AssertionID)
		} else if e.Encrypted {
			b.WriteString(", assertion encrypted")
		}
		b.WriteString(")")
	}
	return b.String()
}

func (e *RejectedError) Unwrap() []error {
	if e.cause == nil {
		return []error{sdk.ErrInvalidCredentials}
	}
	return []error{sdk.ErrInvalidCredentials, e.cause}
}

// peeked is what is read from a response before validation, for error
// messages and for which elements are signed. Nothing in it is trusted.
type peeked struct {
	responseID, assertionID string
	encrypted               bool
	status, subStatus       string
	responseSigned          bool
}

// HandleCallback validates the IdP's response posted to the ACS URL and
// returns the person it names.
func (c *Connector) HandleCallback(ctx context.Context, _ sdk.Scopes, req sdk.CallbackRequest) (sdk.Identity, error) {
	st := c.state.Load()
	if st == nil {
		return sdk.Identity{}, fmt.Errorf("%w: saml: no IdP metadata yet", sdk.ErrUnavailable)
	}
	now := c.now()
	reject := func(p peeked, cause error, format string, args ...any) (sdk.Identity, error) {
		return sdk.Identity{}, &RejectedError{Reason: fmt.Sprintf(format, args...), ResponseID: p.responseID, AssertionID: p.assertionID, Encrypted: p.encrypted, cause: cause}
	}
	if req.Method != http.MethodPost {
		return reject(peeked{}, nil, "the response must be posted (HTTP-POST binding), not sent with %s", clean(req.Method, 10))
	}
	vals := req.Form["SAMLResponse"]
	if len(vals) != 1 || vals[0] == "" {
		return reject(peeked{}, nil, "the form must carry exactly one SAMLResponse")
	}

	// Which request the response must answer: the one LoginURL made, or
	// none for an IdP-initiated login.
	var expected string
	sp := st.sp
	if len(req.Data) == 0 {
		if !c.cfg.IDPInitiated.Enabled {
			return reject(peeked{}, nil, "unsolicited response, and idp_initiated is not enabled")
		}
		sp = st.unsolicited
	} else {
		var d loginData
		if err := json.Unmarshal(req.Data, &d); err != nil || d.RequestID == "" {
			return reject(peeked{}, nil, "the login's state is not this connector's")
		}
		issued := time.Unix(d.Issued, 0)
		if now.Sub(issued) > requestTTL {
			return reject(peeked{}, nil, "the AuthnRequest is older than %v", requestTTL)
		}
		// Spent whatever the outcome: a request has one answer.
		if err := c.replay.consume("req\x00"+d.RequestID, issued.Add(requestTTL), now); err != nil {
			return c.consumeFailed(peeked{}, err, "request %q", d.RequestID)
		}
		expected = d.RequestID
	}

	doc, err := decodeResponse(vals[0])
	if err != nil {
		return reject(peeked{}, err, "%v", err)
	}
	p := peek(doc)
	var possible []string
	if expected != "" {
		possible = []string{expected}
	}
	a, err := sp.ParseXMLResponse(doc, possible, c.acs)
	if err != nil {
		return c.parseFailed(p, err)
	}
	p.assertionID = clean(a.ID, 128)
	if err := c.check(a, p, expected, now); err != nil {
		return reject(p, nil, "%v", err)
	}
	id, err := c.identity(a)
	if err != nil {
		return reject(p, nil, "%v", err)
	}
	// Last, so that only an assertion accepted in every other way is
	// spent: crewjam/saml refuses one issued more than MaxIssueDelay ago,
	// so it need not be remembered longer.
	until := a.IssueInstant.Add(csaml.MaxIssueDelay + time.Duration(c.cfg.ClockSkew))
	if err := c.replay.consume("asr\x00"+a.Issuer.Value+"\x00"+a.ID, until, now); err != nil {
		return c.consumeFailed(p, err, "assertion")
	}
	c.log.InfoContext(ctx, "saml: assertion accepted", "response_id", p.responseID, "assertion_id", p.assertionID, "unsolicited", expected == "")
	return id, nil
}

func (c *Connector) consumeFailed(p peeked, err error, what string, args ...any) (sdk.Identity, error) {
	what = fmt.Sprintf(what, args...)
	if errors.Is(err, errCacheFull) {
		return sdk.Identity{}, fmt.Errorf("%w: saml: %s: %v", sdk.ErrUnavailable, what, err)
	}
	return sdk.Identity{}, &RejectedError{Reason: what + " already used (replay)", ResponseID: p.responseID, AssertionID: p.assertionID, Encrypted: p.encrypted, cause: err}
}

// parseFailed turns crewjam/saml's error into a RejectedError, keeping
// its reason but not the response it carries.
func (c *Connector) parseFailed(p peeked, err error) (sdk.Identity, error) {
	var bad csaml.ErrBadStatus
	if errors.As(err, &bad) {
		s := clean(p.status, 200)
		if p.subStatus != "" {
			s += " / " + clean(p.subStatus, 200)
		}
		return sdk.Identity{}, &RejectedError{Reason: "the IdP answered with status " + s, ResponseID: p.responseID, AssertionID: p.assertionID}
	}
	cause := err
	var ire *csaml.InvalidResponseError
	if errors.As(err, &ire) {
		cause = ire.PrivateErr
	}
	if cause == nil {
		cause = errors.New("invalid response")
	}
	if errors.As(cause, &bad) {
		return c.parseFailed(p, bad)
	}
	return sdk.Identity{}, &RejectedError{Reason: clean(cause.Error(), 400), ResponseID: p.responseID, AssertionID: p.assertionID, Encrypted: p.encrypted, cause: cause}
}

// decodeResponse undoes the HTTP-POST binding's base64 (tolerating the
// line breaks some IdPs put in it) and, for IdPs that deflate even though
// the binding says not to, DEFLATE.
func decodeResponse(v string) ([]byte, error) {
	v = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, v)
	if base64.StdEncoding.DecodedLen(len(v)) > maxResponseSize {
		return nil, fmt.Errorf("SAMLResponse is larger than %d KiB", maxResponseSize>>10)
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("SAMLResponse is not base64: %w", err)
	}
	if t := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '<' {
		return b, nil
	}
	r := flate.NewReader(bytes.NewReader(b))
	defer r.Close()
	x, err := io.ReadAll(io.LimitReader(r, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("SAMLResponse is neither XML nor DEFLATE: %w", err)
	}
	if len(x) > maxResponseSize {
		return nil, fmt.Errorf("SAMLResponse inflates to more than %d KiB", maxResponseSize>>10)
	}
	return x, nil
}

// peek reads the response's IDs, status and whether the Response element
// carries a signature. crewjam/saml fails a response whose present
// signature does not verify, so after it accepts one, a signature seen
// here is a valid one.
func peek(x []byte) peeked {
	var p peeked
	doc := etree.NewDocument()
	if doc.ReadFromBytes(x) != nil || doc.Root() == nil {
		return p
	}
	root := doc.Root()
	p.responseID = clean(root.SelectAttrValue("ID", ""), 128)
	for _, el := range root.ChildElements() {
		switch {
		case el.Tag == "Signature" && el.NamespaceURI() == dsigNS:
			p.responseSigned = true
		case el.Tag == "Assertion" && p.assertionID == "":
			p.assertionID = clean(el.SelectAttrValue("ID", ""), 128)
		case el.Tag == "EncryptedAssertion":
			p.encrypted = true
		case el.Tag == "Status":
			if sc := el.SelectElement("StatusCode"); sc != nil {
				p.status = sc.SelectAttrValue("Value", "")
				if sub := sc.SelectElement("StatusCode"); sub != nil {
					p.subStatus = sub.SelectAttrValue("Value", "")
				}
			}
		}
	}
	return p
}

// check adds to crewjam/saml's validation what it leaves to the caller or
// does with a global allowance.
func (c *Connector) check(a *csaml.Assertion, p peeked, expected string, now time.Time) error {
	switch c.cfg.RequireSignature {
	case "response":
		if !p.responseSigned {
			return errors.New("the Response is not signed (require_signature: response)")
		}
	case "assertion":
		if a.Signature == nil {
			return errors.New("the Assertion is not signed (require_signature: assertion)")
		}
	case "both":
		if !p.responseSigned || a.Signature == nil {
			return errors.New("the Response and the Assertion must both be signed (require_signature: both)")
		}
	}
	skew := time.Duration(c.cfg.ClockSkew)
	if a.IssueInstant.After(now.Add(skew)) {
		return fmt.Errorf("the assertion is issued in the future (%s), beyond the clock skew", a.IssueInstant.UTC().Format(time.RFC3339))
	}
	if cond := a.Conditions; cond != nil {
		if cond.NotBefore.After(now.Add(skew)) {
			return fmt.Errorf("the assertion is not valid before %s, beyond the clock skew", cond.NotBefore.UTC().Format(time.RFC3339))
		}
		if !cond.NotOnOrAfter.IsZero() && !now.Before(cond.NotOnOrAfter.Add(skew)) {
			return fmt.Errorf("the assertion expired at %s", cond.NotOnOrAfter.UTC().Format(time.RFC3339))
		}
		if len(cond.AudienceRestrictions) == 0 {
			return errors.New("the assertion has no audience restriction")
		}
		for _, ar := range cond.AudienceRestrictions {
			if !slices.ContainsFunc(ar.AllAudiences(), func(au csaml.Audience) bool { return au.Value == c.entityID }) {
				return fmt.Errorf("the audience is not %q", c.entityID)
			}
		}
	} else {
		return errors.New("the assertion has no Conditions")
	}
	if a.Subject == nil {
		return errors.New("the assertion has no Subject")
	}
	// One bearer confirmation for this ACS, this request, now.
	for _, sc := range a.Subject.SubjectConfirmations {
		d := sc.SubjectConfirmationData
		if sc.Method != bearerMethod || d == nil {
			continue
		}
		if d.Recipient == c.acs.String() && d.InResponseTo == expected &&
			!d.NotOnOrAfter.IsZero() && now.Before(d.NotOnOrAfter.Add(skew)) && !d.NotBefore.After(now.Add(skew)) {
			return nil
		}
	}
	return errors.New("no bearer SubjectConfirmation for this ACS URL and request that is valid now")
}

// clean makes untrusted text safe to log: printable, at most max bytes.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}
