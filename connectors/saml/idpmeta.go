package saml

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	// maxMetadataSize bounds a metadata document; federation aggregates
	// run to tens of MB, a single IdP's to a few KB.
	maxMetadataSize = 32 << 20
	fetchTimeout    = 10 * time.Second
	// retryEvery is how soon a failed first fetch is tried again.
	retryEvery = 30 * time.Second
)

// idpState is one version of the IdP's metadata, with the service
// providers built on it. It is never changed once built: a refresh builds
// a new one and swaps it in, so a login in flight keeps a consistent view.
type idpState struct {
	sp          *csaml.ServiceProvider // SP-initiated: InResponseTo required
	unsolicited *csaml.ServiceProvider // IdP-initiated: InResponseTo empty
	redirectURL string                 // the IdP's HTTP-Redirect SSO endpoint, if any
	postURL     string                 // the IdP's HTTP-POST SSO endpoint, if any
	signs       bool                   // AuthnRequests are signed
	certs       []string               // SHA-256 fingerprints of the signing certificates
	loaded      time.Time
}

// loadMetadata reads the IdP's metadata from where the config says.
func (c *Connector) loadMetadata(ctx context.Context) (*csaml.EntityDescriptor, error) {
	var data []byte
	var err error
	switch {
	case c.cfg.IDPMetadataURL != "":
		data, err = c.fetch(ctx, c.cfg.IDPMetadataURL)
	case c.cfg.IDPMetadataFile != "":
		data, err = readFile(c.cfg.IDPMetadataFile)
	default:
		return c.explicitMetadata()
	}
	if err != nil {
		return nil, err
	}
	return parseMetadata(data, c.cfg.IDPEntityID)
}

func (c *Connector) fetch(ctx context.Context, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataSize+1))
	if err == nil && len(b) > maxMetadataSize {
		err = fmt.Errorf("GET %s: larger than %d MiB", u, maxMetadataSize>>20)
	}
	return b, err
}

// parseMetadata returns the IdP's EntityDescriptor from a metadata
// document: the document itself, or the one entity of an aggregate with an
// IDPSSODescriptor (entityID picks one when there are several).
func parseMetadata(data []byte, entityID string) (*csaml.EntityDescriptor, error) {
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	var found []*csaml.EntityDescriptor
	switch root.XMLName.Local {
	case "EntityDescriptor":
		var ed csaml.EntityDescriptor
		if err := xml.Unmarshal(data, &ed); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		found = append(found, &ed)
	case "EntitiesDescriptor":
		var eds csaml.EntitiesDescriptor
		if err := xml.Unmarshal(data, &eds); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		var walk func(*csaml.EntitiesDescriptor)
		walk = func(e *csaml.EntitiesDescriptor) {
			for i := range e.EntityDescriptors {
				if len(e.EntityDescriptors[i].IDPSSODescriptors) > 0 {
					found = append(found, &e.EntityDescriptors[i])
				}
			}
			for i := range e.EntitiesDescriptors {
				walk(&e.EntitiesDescriptors[i])
			}
		}
		walk(&eds)
	default:
		return nil, fmt.Errorf("metadata: root element is %s, not EntityDescriptor or EntitiesDescriptor", root.XMLName.Local)
	}
	if entityID != "" {
		found = slices.DeleteFunc(found, func(ed *csaml.EntityDescriptor) bool { return ed.EntityID != entityID })
	}
	switch {
	case len(found) == 0 && entityID != "":
		return nil, fmt.Errorf("metadata: no entity %q", entityID)
	case len(found) == 0:
		return nil, errors.New("metadata: no IdP entity")
	case len(found) > 1:
		return nil, fmt.Errorf("metadata: %d IdP entities; set idp_entity_id to pick one", len(found))
	}
	return found[0], nil
}

// explicitMetadata describes an IdP configured by SSO URL and certificates,
// as metadata saying the URL takes both bindings.
func (c *Connector) explicitMetadata() (*csaml.EntityDescriptor, error) {
	certs, err := c.cfg.idpCertificates()
	if err != nil {
		return nil, err
	}
	var kds []csaml.KeyDescriptor
	for _, cert := range certs {
		kds = append(kds, csaml.KeyDescriptor{Use: "signing", KeyInfo: csaml.KeyInfo{X509Data: csaml.X509Data{
			X509Certificates: []csaml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(cert.Raw)}},
		}}})
	}
	idp := csaml.IDPSSODescriptor{
		SingleSignOnServices: []csaml.Endpoint{
			{Binding: csaml.HTTPRedirectBinding, Location: c.cfg.IDPSSOURL},
			{Binding: csaml.HTTPPostBinding, Location: c.cfg.IDPSSOURL},
		},
	}
	idp.ProtocolSupportEnumeration = "urn:oasis:names:tc:SAML:2.0:protocol"
	idp.KeyDescriptors = kds
	return &csaml.EntityDescriptor{EntityID: c.cfg.IDPEntityID, IDPSSODescriptors: []csaml.IDPSSODescriptor{idp}}, nil
}

// newState checks the IdP's metadata and builds the service providers
// that validate its responses.
func (c *Connector) newState(md *csaml.EntityDescriptor) (*idpState, error) {
	if md.EntityID == "" {
		return nil, errors.New("metadata: the IdP has no entityID")
	}
	if len(md.IDPSSODescriptors) == 0 {
		return nil, errors.New("metadata: no IDPSSODescriptor")
	}
	var certs []string
	wantSigned := false
	for _, d := range md.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			wantSigned = true
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, xc := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(xc.Data), ""))
				if err != nil {
					return nil, fmt.Errorf("metadata: signing certificate: %w", err)
				}
				if _, err := x509.ParseCertificate(der); err != nil {
					return nil, fmt.Errorf("metadata: signing certificate: %w", err)
				}
				sum := sha256.Sum256(der)
				certs = append(certs, hex.EncodeToString(sum[:]))
			}
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("metadata: the IdP publishes no signing certificate")
	}
	slices.Sort(certs)
	sp := &csaml.ServiceProvider{
		EntityID:                         c.entityID,
		Key:                              c.key,
		Certificate:                      c.cert,
		MetadataURL:                      c.metadataURL,
		AcsURL:                           c.acs,
		IDPMetadata:                      md,
		AuthnNameIDFormat:                csaml.NameIDFormat(c.cfg.NameIDFormat),
		SendUnspecifiedNameIDFormat:      true,
		AssertionConsumerServiceBindings: []string{csaml.HTTPPostBinding},
		IgnoreCertificateExpiry:          c.cfg.IgnoreCertificateExpiry,
		RejectSHA1Signatures:             !c.cfg.AllowSHA1Signatures,
		Clock:                            c.clock,
	}
	st := &idpState{sp: sp, certs: certs, loaded: c.now(), signs: c.cfg.SignRequests || wantSigned}
	if st.signs {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	st.redirectURL = sp.GetSSOBindingLocation(csaml.HTTPRedirectBinding)
	st.postURL = sp.GetSSOBindingLocation(csaml.HTTPPostBinding)
	if st.redirectURL == "" && st.postURL == "" {
		return nil, errors.New("metadata: no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
	}
	u := *sp
	u.AllowIDPInitiated = true
	st.unsolicited = &u
	return st, nil
}

// RefreshMetadata reads the IdP's metadata again and uses it from now on.
// When that fails, the connector keeps the copy it has, and the error says
// why. It runs on its own every idp_metadata_refresh.
func (c *Connector) RefreshMetadata(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	md, err := c.loadMetadata(ctx)
	var st *idpState
	if err == nil {
		st, err = c.newState(md)
	}
	old := c.state.Load()
	if err != nil {
		err = fmt.Errorf("saml: IdP metadata: %w", err)
		if old != nil {
			c.log.WarnContext(ctx, "saml: metadata refresh failed; keeping the last good metadata",
				"loaded_at", old.loaded.UTC().Format(time.RFC3339), "err", err)
		} else {
			c.log.ErrorContext(ctx, "saml: no IdP metadata yet; logins are unavailable", "err", err)
		}
		return err
	}
	c.state.Store(st)
	switch {
	case old == nil:
		c.log.InfoContext(ctx, "saml: IdP metadata loaded", "idp", st.sp.IDPMetadata.EntityID, "signing_certs", st.certs)
	case !slices.Equal(old.certs, st.certs):
		c.log.InfoContext(ctx, "saml: IdP signing certificates changed", "idp", st.sp.IDPMetadata.EntityID, "signing_certs", st.certs, "was", old.certs)
	}
	return nil
}

// refreshLoop refreshes the metadata until ctx ends, sooner while there is
// none.
func (c *Connector) refreshLoop(ctx context.Context, every time.Duration) {
	defer close(c.done)
	for {
		wait := every
		if c.state.Load() == nil && wait > retryEvery {
			wait = retryEvery
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		c.RefreshMetadata(ctx)
	}
}
