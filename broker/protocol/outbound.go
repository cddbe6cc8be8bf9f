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

// notGlobal are the special-purpose ranges of the IANA registries (RFC
// 6890) that are not globally reachable and that netip's predicates miss:
// shared address space (RFC 6598), protocol assignments, documentation and
// benchmarking ranges, the reserved class E, and the IPv6 prefixes that
// embed an IPv4 address (NAT64, 6to4) and so may lead to a private one.
var notGlobal = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
		"2001::/23", "2001:db8::/32", "2002::/16"} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

// publicAddr reports whether a is an address on the public internet.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
		return false
	}
	for _, p := range notGlobal {
		if p.Contains(a) {
			return false
		}
	}
	return true
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
