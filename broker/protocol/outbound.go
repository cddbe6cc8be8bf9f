package protocol

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"github.com/portico-idp/portico/broker/store"
)

// Requests Portico makes to URIs a client chose (a private_key_jwt
// client's jwks_uri, a back-channel logout URI) go wherever the URI says.
// For clients an operator configured, that is the operator's choice. A
// client made by dynamic registration is someone else's: its URIs must
// not turn Portico into a way into the network it sits in (its loopback
// services, the cloud metadata address, private ranges). Those requests
// are dialled through a guard that checks the address actually connected
// to, after DNS, so a name resolving (or rebinding) to a private address
// is caught too.

// errPrivateAddress is the guard's refusal.
var errPrivateAddress = errors.New("the address is not public (loopback, private, link-local or reserved): refused for a dynamically registered client")

// cgnat is RFC 6598 shared address space, private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether a is an address on the public internet.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !cgnat.Contains(a) &&
		!a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsUnspecified()
}

// privateLiteral reports whether uri's host is an IP address that is not
// public. Names are left to the guard, which sees what they resolve to.
func privateLiteral(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	return err == nil && !publicAddr(a)
}

// guardedTransport is a transport whose connections go to public
// addresses only, without a proxy (a proxy would connect on its behalf).
func guardedTransport(timeout time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: timeout, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !publicAddr(ap.Addr()) {
			return errPrivateAddress
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = d.DialContext
	return tr
}

// guarded reports whether requests to cl's URIs go through the guard: a
// dynamically registered client's, unless the operator allowed private
// addresses (registration.allow_private_uris).
func (p *Server) guarded(cl store.Client) bool {
	return cl.Registration != nil && (p.opts.Registration == nil || !p.opts.Registration.AllowPrivateURIs)
}

// withGuard returns a copy of hc whose transport is the guard's.
func withGuard(hc *http.Client, timeout time.Duration) *http.Client {
	g := *hc
	g.Transport = guardedTransport(timeout)
	return &g
}
