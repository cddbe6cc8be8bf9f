// Package saml is the connector for SAML 2.0 identity providers (Entra ID,
// AD FS, Okta, Keycloak, Shibboleth...): Portico is a service provider to
// the IdP, and people log in there.
//
// # Login
//
// LoginURL sends the browser to the IdP with an AuthnRequest: with the
// HTTP-Redirect binding, or the HTTP-POST binding when requests are signed
// (sign_requests, or the IdP's metadata wants them signed; a signature
// carried in a redirect's query is lost by IdPs that re-post the request
// from their login page). The RelayState is the broker's state, and the
// request's ID is kept in sdk.Redirect.Data, which the broker holds with
// the pending login and hands back once.
//
// The IdP answers at the ACS URL (the broker's callback URL for the
// connector) with the HTTP-POST binding. HandleCallback accepts a response
// only if its InResponseTo is that request's ID, which is then spent: an
// answer to another login, or a second answer to this one, is refused.
// Artifact and SimpleSign bindings are not accepted.
//
// # Validation
//
// crewjam/saml's ServiceProvider.ParseXMLResponse does most of it: the XML
// signature must be by one of the IdP's signing certificates and cover the
// Response or every Assertion, and the message is read from what the
// signature covers (the canonical bytes that were digested), so content
// outside it, a second injected assertion or comments, is never read
// (signature wrapping); an unsigned Response may hold only one assertion.
// It checks the Destination, Issuer, status, InResponseTo on the Response
// and on the bearer SubjectConfirmationData, its Recipient (the ACS URL),
// the audience restriction (the SP entity ID), the IssueInstant (at most
// saml.MaxIssueDelay, 90s, old) and NotBefore / NotOnOrAfter with its own
// 3-minute allowance. Encrypted assertions and NameIDs are decrypted with
// the SP key.
//
// This package then checks what that leaves out or makes global: which
// element is signed (require_signature), the validity times with the
// connector's clock_skew (default 90s), the bearer confirmation, audience
// and InResponseTo once more from the returned assertion, and replay: an
// assertion ID is accepted once. Used IDs are kept in memory with their
// expiry, bounded in size (see DefaultReplayCacheSize), so with several
// Portico replicas a shared store is needed for the same guarantee.
//
// Any failure, and any SAML error status from the IdP, is an error
// wrapping sdk.ErrInvalidCredentials whose text gives the reason and the
// response and assertion IDs, never the document: crewjam/saml's service
// provider logs nothing (only its samlsp middleware and artifact
// resolution do, and neither is used), and its InvalidResponseError, which
// holds the whole response, never leaves this package.
//
// # Identity
//
// The subject is the NameID, of name_id_format (persistent by default; a
// transient NameID, or one of another format, is refused, since a changing
// subject would be a new person at every login), or the single value of
// subject_attribute. Email, name, username and groups come from the first
// attribute present of their configured lists, whose defaults cover the
// common IdPs (see DefaultEmailAttributes and the others); every value of
// the groups attribute is a group. email_verified is false unless the
// config says otherwise.
//
// # IdP metadata
//
// From a URL, fetched at start and every idp_metadata_refresh (default
// 1h), from a file read likewise, or given as an SSO URL with signing
// certificates. A refresh that fails keeps the last good copy and logs a
// warning, so an IdP rotating its key is followed and an IdP whose
// metadata endpoint is down does not stop logins. Without any metadata yet
// (the first fetch failed) logins are sdk.ErrUnavailable, retried every
// 30s.
//
// # Refresh
//
// SAML has no refresh: Portico cannot ask the IdP about a person without
// the browser. The connector is no sdk.RefreshConnector, so the broker
// keeps the identity of the last login until the person logs in again.
package saml

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/portico-idp/portico/sdk"
)

// requestTTL is how long an AuthnRequest may wait for its response.
const requestTTL = 30 * time.Minute

// Env is what New needs besides the config.
type Env struct {
	// ID is the connector's id; it names the generated key file (default:
	// the ACS URL's last segment).
	ID string
	// ACSURL is where the IdP posts responses: the broker's callback URL
	// for the connector.
	ACSURL string
	// MetadataURL is where the broker serves the SP metadata, and the
	// default entity ID.
	MetadataURL string
	// DataDir keeps a generated SP key; empty makes one per start.
	DataDir string
	Log     *slog.Logger
	// HTTPClient fetches the IdP's metadata (default: a client that follows
	// no redirect away from https). Each fetch is limited to 10s.
	HTTPClient *http.Client
}

// Connector logs people in at a SAML IdP. It implements
// sdk.CallbackConnector and sdk.MetadataConnector, and is safe for
// concurrent use. Close stops its metadata refresh.
type Connector struct {
	cfg         Config
	log         *slog.Logger
	client      *http.Client
	entityID    string
	metadataURL url.URL
	acs         url.URL
	key         *rsa.PrivateKey
	cert        *x509.Certificate

	state     atomic.Pointer[idpState]
	refreshMu sync.Mutex
	replay    *replayCache
	clock     *dsig.Clock // nil: the real clock; set by tests

	stop context.CancelFunc
	done chan struct{}
}

var (
	_ sdk.CallbackConnector = (*Connector)(nil)
	_ sdk.MetadataConnector = (*Connector)(nil)
)

// New applies cfg's defaults, validates it and returns a connector. It
// loads the IdP's metadata once: a metadata file or certificate that does
// not parse is an error, while a metadata URL that cannot be fetched is
// logged and tried again, logins being unavailable meanwhile.
func New(ctx context.Context, cfg Config, env Env) (*Connector, error) {
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	acs, err := url.Parse(env.ACSURL)
	if err != nil || !acs.IsAbs() {
		return nil, fmt.Errorf("saml: ACS URL %q is not absolute", env.ACSURL)
	}
	md, err := url.Parse(env.MetadataURL)
	if err != nil || !md.IsAbs() {
		return nil, fmt.Errorf("saml: metadata URL %q is not absolute", env.MetadataURL)
	}
	c := &Connector{
		cfg: cfg, log: log, client: env.HTTPClient, entityID: cfg.EntityID, metadataURL: *md, acs: *acs,
		replay: newReplayCache(DefaultReplayCacheSize),
	}
	if c.client == nil {
		c.client = &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// A redirect must not downgrade the metadata to plain HTTP.
			if req.URL.Scheme != "https" && !cfg.InsecureAllowHTTP {
				return fmt.Errorf("redirected to %s, not https", req.URL.Redacted())
			}
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		}}
	}
	if c.entityID == "" {
		c.entityID = env.MetadataURL
	}
	if env.ID == "" {
		env.ID = ConnectorID(env.ACSURL)
	}
	if cfg.KeyFile != "" {
		c.key, c.cert, err = loadKeyPair(cfg.KeyFile, cfg.CertificateFile)
	} else {
		var made bool
		c.key, c.cert, made, err = spKeyPair(env.DataDir, env.ID, c.entityID)
		if made && env.DataDir == "" {
			log.WarnContext(ctx, "saml: no data directory: the SP key is new at every start, and the IdP must fetch the SP metadata again")
		} else if made {
			log.InfoContext(ctx, "saml: generated an SP key pair", "dir", env.DataDir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("saml: SP key: %w", err)
	}
	if cfg.InsecureAllowHTTP {
		log.WarnContext(ctx, "saml: insecure_allow_http is set: the IdP's metadata may come over plain HTTP")
	}
	err = c.RefreshMetadata(ctx)
	if err != nil && cfg.IDPMetadataURL == "" {
		return nil, err // a file or the config itself is wrong: say so now
	}
	if cfg.IDPMetadataRefresh > 0 {
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c.stop, c.done = cancel, make(chan struct{})
		go c.refreshLoop(lctx, time.Duration(cfg.IDPMetadataRefresh))
	}
	return c, nil
}

// Close stops the metadata refresh.
func (c *Connector) Close() error {
	if c.stop != nil {
		c.stop()
		<-c.done
		c.stop = nil
	}
	return nil
}

// IDPInitiated says whether unsolicited responses are accepted, and for
// which application, for the broker's IdP-initiated login route.
func (c *Connector) IDPInitiated() (clientID, redirectURI string, ok bool) {
	p := c.cfg.IDPInitiated
	return p.DefaultClientID, p.DefaultRedirectURI, p.Enabled
}

// EntityID is Portico's entity ID at this IdP.
func (c *Connector) EntityID() string { return c.entityID }

func (c *Connector) now() time.Time { return c.clock.Now() }

// loginData is what LoginURL keeps in sdk.Redirect.Data.
type loginData struct {
	RequestID string `json:"rid"`
	Issued    int64  `json:"iat"` // Unix seconds
}

// LoginURL starts a login at the IdP. callbackURL must be the ACS URL the
// connector was made with.
func (c *Connector) LoginURL(_ context.Context, _ sdk.Scopes, callbackURL, state string) (sdk.Redirect, error) {
	if u, err := url.Parse(callbackURL); err != nil || u.String() != c.acs.String() {
		return sdk.Redirect{}, fmt.Errorf("saml: callback URL %q is not the ACS URL %q", callbackURL, c.acs.String())
	}
	st := c.state.Load()
	if st == nil {
		return sdk.Redirect{}, fmt.Errorf("%w: saml: no IdP metadata yet", sdk.ErrUnavailable)
	}
	post := st.redirectURL == "" || (st.signs && st.postURL != "")
	binding, dest := csaml.HTTPRedirectBinding, st.redirectURL
	if post {
		binding, dest = csaml.HTTPPostBinding, st.postURL
	}
	req, err := st.sp.MakeAuthenticationRequest(dest, binding, csaml.HTTPPostBinding)
	if err != nil {
		return sdk.Redirect{}, fmt.Errorf("saml: make AuthnRequest: %w", err)
	}
	data, err := json.Marshal(loginData{RequestID: req.ID, Issued: c.now().Unix()})
	if err != nil {
		return sdk.Redirect{}, err
	}
	if !post {
		u, err := req.Redirect(state, st.sp)
		if err != nil {
			return sdk.Redirect{}, fmt.Errorf("saml: redirect binding: %w", err)
		}
		return sdk.Redirect{URL: u.String(), Data: data}, nil
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	x, err := doc.WriteToBytes()
	if err != nil {
		return sdk.Redirect{}, fmt.Errorf("saml: POST binding: %w", err)
	}
	return sdk.Redirect{
		URL:      dest,
		PostForm: map[string]string{"SAMLRequest": base64.StdEncoding.EncodeToString(x), "RelayState": state},
		Data:     data,
	}, nil
}

// Metadata returns the SP metadata for the IdP's administrator: entity
// ID, ACS URL (HTTP-POST), the certificate for encryption (and signing,
// when requests are signed) and the NameID format.
func (c *Connector) Metadata(_ context.Context) (sdk.Document, error) {
	sp := c.spForMetadata()
	b, err := xml.MarshalIndent(sp.Metadata(), "", "  ")
	if err != nil {
		return sdk.Document{}, fmt.Errorf("saml: SP metadata: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	buf.Write(b)
	buf.WriteByte('\n')
	return sdk.Document{ContentType: "application/samlmetadata+xml", Body: buf.Bytes()}, nil
}

// spForMetadata is the current service provider, or one without IdP
// metadata: the SP metadata must be available before the IdP's, since an
// IdP is often set up from it first.
func (c *Connector) spForMetadata() *csaml.ServiceProvider {
	if st := c.state.Load(); st != nil {
		return st.sp
	}
	sp := &csaml.ServiceProvider{
		EntityID: c.entityID, Key: c.key, Certificate: c.cert, MetadataURL: c.metadataURL, AcsURL: c.acs,
		AuthnNameIDFormat:                csaml.NameIDFormat(c.cfg.NameIDFormat),
		AssertionConsumerServiceBindings: []string{csaml.HTTPPostBinding},
	}
	if c.cfg.SignRequests {
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

// ConnectorID is the connector id at the end of the broker's callback URL
// for it ({issuer}/callback/{id}).
func ConnectorID(callbackURL string) string {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return ""
	}
	return path.Base(u.Path)
}
