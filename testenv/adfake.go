package testenv

// ADFake is a small LDAPv3 server on 127.0.0.1 shaped like Active
// Directory in the few ways the LDAP connector's tests need and slapd
// cannot give: AD's bind failure diagnostics and, above all, range
// retrieval of large multi-valued attributes. It is an emulation of AD's
// documented behaviour, not a general LDAP server: one fixed directory,
// simple binds, searches with a small filter evaluator (and, or, not,
// equality, presence, and AD's bitwise matching rules), and nothing else.
//
// Range retrieval, as documented by Microsoft ("Searching Using Range
// Retrieval", https://learn.microsoft.com/en-us/previous-versions/windows/desktop/ldap/searching-using-range-retrieval,
// and MS-ADTS 3.1.1.3.1.3.3, https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-adts/e27b48db-6f82-44cd-9038-2e54f790cc1f):
// an attribute with more values than MaxValRange (1500 since Windows
// Server 2003) is sent under the description "memberOf;range=0-1499" with
// the first 1500 values; a client asks for "memberOf;range=1500-*" (or
// "1500-2999") and gets the next values, under "memberOf;range=1500-2999"
// when more remain, or "memberOf;range=1500-*" when the answer holds the
// last value. Assumed rather than documented: a range starting past the
// last value is answered without the attribute.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
)

// The fake directory: a domain, its Users container, a service account, a
// user in ADFakeOptions.Groups groups (memberOf), and the groups.
const (
	ADBaseDN          = "DC=corp,DC=example"
	ADUsersDN         = "CN=Users," + ADBaseDN
	ADGroupsDN        = "OU=Groups," + ADBaseDN
	ADServiceDN       = "CN=svc-portico," + ADUsersDN
	ADServicePassword = "svc-secret"
	// ADMaxValRange is AD's default MaxValRange policy.
	ADMaxValRange = 1500
	// ADBadPassword is AD's diagnostic message for a wrong password or
	// unknown user at bind (with resultCode 49): "data 52e".
	ADBadPassword = "80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e, v4563\x00"
	// ADEnabledFilter is the usual AD enabled filter: ACCOUNTDISABLE
	// (bit 2 of userAccountControl) unset.
	ADEnabledFilter = "(!(userAccountControl:1.2.840.113556.1.4.803:=2))"
)

// ADJane is the user of the fake directory. Her objectGUID is ADJaneGUID,
// which the connector writes as ADJaneSubject.
var (
	ADJane = LDAPUser{UID: "jane", Password: "jane-secret", Mail: "jane@corp.example", Name: "Jane Doe"}
	// ADJaneGUID is objectGUID {01020304-0506-0708-090a-0b0c0d0e0f10} in
	// AD's byte order (the first three fields little-endian).
	ADJaneGUID    = []byte{4, 3, 2, 1, 6, 5, 8, 7, 9, 10, 11, 12, 13, 14, 15, 16}
	ADJaneSubject = "01020304-0506-0708-090a-0b0c0d0e0f10"
)

// ADJaneDN is ADJane's entry.
func ADJaneDN() string { return "CN=" + ADJane.Name + "," + ADUsersDN }

// ADGroupName is the cn of the fake directory's i-th group (from 0).
func ADGroupName(i int) string { return fmt.Sprintf("grp-%04d", i) }

// ADFakeOptions configures StartADFake.
type ADFakeOptions struct {
	// Groups is how many groups ADJane is in (default 3000).
	Groups int
	// MaxValRange is the most values of one attribute in one answer
	// (default ADMaxValRange).
	MaxValRange int
	// Ranges, if set, answers instead of the server every search that
	// would send attr in ranges (attr is the name asked for, without
	// options; lo and hi the range asked for, hi -1 for "*" and for a
	// request without a range). It returns the attribute description to
	// send and its values, or ok false to let the server answer as AD
	// does. For tests of misbehaving servers.
	Ranges func(attr string, lo, hi int, all [][]byte) (desc string, vals [][]byte, ok bool)
}

// ADFake is a running fake AD server.
type ADFake struct {
	t       testing.TB
	ln      net.Listener
	opts    ADFakeOptions
	entries []*adEntry
	pw      map[string]string // lowercase DN -> password

	mu     sync.Mutex
	ranged []string // attribute descriptions asked for with a range
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

type adEntry struct {
	dn    string
	attrs []adAttr
}

type adAttr struct {
	name string
	vals [][]byte
}

func (e *adEntry) get(name string) *adAttr {
	for i := range e.attrs {
		if strings.EqualFold(e.attrs[i].name, name) {
			return &e.attrs[i]
		}
	}
	return nil
}

func strs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// StartADFake starts the fake directory on a free loopback port, stopped
// when the test ends.
func StartADFake(t testing.TB, opts ADFakeOptions) *ADFake {
	t.Helper()
	if opts.Groups == 0 {
		opts.Groups = 3000
	}
	if opts.MaxValRange == 0 {
		opts.MaxValRange = ADMaxValRange
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("adfake: %v", err)
	}
	a := &ADFake{t: t, ln: ln, opts: opts, conns: map[net.Conn]bool{}, pw: map[string]string{
		strings.ToLower(ADServiceDN): ADServicePassword,
		strings.ToLower(ADJaneDN()):  ADJane.Password,
	}}
	a.entries = append(a.entries,
		&adEntry{ADBaseDN, []adAttr{{"objectClass", strs("top", "domain", "domainDNS")}, {"dc", strs("corp")}}},
		&adEntry{ADUsersDN, []adAttr{{"objectClass", strs("top", "container")}, {"cn", strs("Users")}}},
		&adEntry{ADGroupsDN, []adAttr{{"objectClass", strs("top", "organizationalUnit")}, {"ou", strs("Groups")}}},
		&adEntry{ADServiceDN, []adAttr{{"objectClass", strs("top", "person", "organizationalPerson", "user")},
			{"sAMAccountName", strs("svc-portico")}, {"userAccountControl", strs("66048")}}},
	)
	groups := make([][]byte, opts.Groups)
	for i := range groups {
		dn := "CN=" + ADGroupName(i) + "," + ADGroupsDN
		groups[i] = []byte(dn)
		a.entries = append(a.entries, &adEntry{dn, []adAttr{{"objectClass", strs("top", "group")}, {"cn", strs(ADGroupName(i))},
			{"sAMAccountName", strs(ADGroupName(i))}, {"member", strs(ADJaneDN())}}})
	}
	a.entries = append(a.entries, &adEntry{ADJaneDN(), []adAttr{
		{"objectClass", strs("top", "person", "organizationalPerson", "user")},
		{"cn", strs(ADJane.Name)},
		{"sAMAccountName", strs(ADJane.UID)},
		{"userPrincipalName", strs(ADJane.UID + "@corp.example")},
		{"displayName", strs(ADJane.Name)},
		{"mail", strs(ADJane.Mail)},
		{"objectGUID", [][]byte{ADJaneGUID}},
		{"userAccountControl", strs("512")}, // NORMAL_ACCOUNT
		{"memberOf", groups},
	}})
	a.wg.Add(1)
	go a.serve()
	t.Cleanup(a.stop)
	return a
}

// URL is the server's ldap:// URL.
func (a *ADFake) URL() string { return "ldap://" + a.ln.Addr().String() }

// RangeRequests returns the attribute descriptions with a range option
// that searches asked for, in order ("memberOf;range=1500-*" …).
func (a *ADFake) RangeRequests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ranged...)
}

func (a *ADFake) stop() {
	a.ln.Close()
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

func (a *ADFake) serve() {
	defer a.wg.Done()
	for {
		c, err := a.ln.Accept()
		if err != nil {
			return
		}
		a.mu.Lock()
		a.conns[c] = true
		a.mu.Unlock()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() {
				c.Close()
				a.mu.Lock()
				delete(a.conns, c)
				a.mu.Unlock()
			}()
			if err := a.session(c); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				a.t.Logf("adfake: %v", err)
			}
		}()
	}
}

// LDAP protocol operations (RFC 4511 section 4.2 and on) and result codes.
const (
	opBindRequest    = 0
	opBindResponse   = 1
	opUnbindRequest  = 2
	opSearchRequest  = 3
	opSearchEntry    = 4
	opSearchDone     = 5
	opAbandonRequest = 16
	opExtendedReq    = 23
	opExtendedResp   = 24

	rcSuccess            = 0
	rcOperationsError    = 1
	rcProtocolError      = 2
	rcSizeLimitExceeded  = 4
	rcNoSuchObject       = 32
	rcInvalidCredentials = 49
	rcUnwillingToPerform = 53
)

// session serves one connection until Unbind or EOF.
func (a *ADFake) session(c net.Conn) error {
	bound := false
	for {
		p, err := ber.ReadPacket(c)
		if err != nil {
			return err
		}
		if len(p.Children) < 2 {
			return fmt.Errorf("malformed LDAPMessage")
		}
		id, _ := p.Children[0].Value.(int64)
		op := p.Children[1]
		var out []*ber.Packet
		switch op.Tag {
		case opBindRequest:
			var ok bool
			ok, out = a.bind(id, op)
			bound = ok
		case opUnbindRequest:
			return nil
		case opAbandonRequest:
			// Every answer is sent at once: nothing to abandon.
		case opSearchRequest:
			if !bound {
				// AD refuses anonymous searches below the root DSE.
				out = []*ber.Packet{result(id, opSearchDone, rcOperationsError, "",
					"000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563\x00")}
			} else {
				out = a.search(id, op)
			}
		case opExtendedReq:
			out = []*ber.Packet{result(id, opExtendedResp, rcUnwillingToPerform, "", "adfake: no extended operations")}
		default:
			out = []*ber.Packet{result(id, opExtendedResp, rcProtocolError, "", "adfake: operation not supported")}
		}
		for _, r := range out {
			if _, err := c.Write(r.Bytes()); err != nil {
				return err
			}
		}
	}
}

// message wraps protocolOp in an LDAPMessage with id.
func message(id int64, op *ber.Packet) *ber.Packet {
	m := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "LDAPMessage")
	m.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, "messageID"))
	m.AppendChild(op)
	return m
}

// result is an LDAPResult-shaped response of type op.
func result(id int64, op ber.Tag, code int, matched, diag string) *ber.Packet {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, op, nil, "result")
	r.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, "resultCode"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, matched, "matchedDN"))
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, "diagnosticMessage"))
	return message(id, r)
}

// raw is a primitive packet's content, whatever its class.
func raw(p *ber.Packet) []byte {
	if p.Data == nil {
		return nil
	}
	return p.Data.Bytes()
}

// bind answers a simple bind: success for a known DN and its password,
// or an empty DN and password (anonymous); an empty password with a DN is
// an unauthenticated bind, which AD accepts as anonymous (RFC 4513
// 5.1.2): clients must not send one. Anything else fails as AD does, with
// invalidCredentials and "data 52e".
func (a *ADFake) bind(id int64, op *ber.Packet) (bool, []*ber.Packet) {
	if len(op.Children) < 3 || op.Children[2].ClassType != ber.ClassContext || op.Children[2].Tag != 0 {
		return false, []*ber.Packet{result(id, opBindResponse, rcUnwillingToPerform, "", "adfake: simple binds only")}
	}
	dn := string(raw(op.Children[1]))
	pw := string(raw(op.Children[2]))
	if pw == "" {
		return false, []*ber.Packet{result(id, opBindResponse, rcSuccess, "", "")}
	}
	if want, ok := a.pw[strings.ToLower(dn)]; ok && want == pw {
		return true, []*ber.Packet{result(id, opBindResponse, rcSuccess, "", "")}
	}
	return false, []*ber.Packet{result(id, opBindResponse, rcInvalidCredentials, "", ADBadPassword)}
}

// search answers a SearchRequest: entries under (or at) the base that
// match the filter, with the attributes asked for, large ones in ranges.
func (a *ADFake) search(id int64, op *ber.Packet) []*ber.Packet {
	if len(op.Children) < 8 {
		return []*ber.Packet{result(id, opSearchDone, rcProtocolError, "", "adfake: malformed search")}
	}
	base := strings.ToLower(string(raw(op.Children[0])))
	scope, _ := op.Children[1].Value.(int64)
	sizeLimit, _ := op.Children[3].Value.(int64)
	filter := op.Children[6]
	var attrs []string
	for _, c := range op.Children[7].Children {
		attrs = append(attrs, string(raw(c)))
	}
	var found []*adEntry
	baseExists := false
	for _, e := range a.entries {
		dn := strings.ToLower(e.dn)
		if dn == base {
			baseExists = true
		}
		var in bool
		switch scope {
		case 0: // base
			in = dn == base
		case 1: // one level
			i := strings.Index(dn, ",")
			in = i >= 0 && dn[i+1:] == base
		default: // subtree
			in = dn == base || strings.HasSuffix(dn, ","+base)
		}
		if in && matches(e, filter) {
			found = append(found, e)
		}
	}
	if !baseExists {
		return []*ber.Packet{result(id, opSearchDone, rcNoSuchObject, ADBaseDN,
			"0000208D: NameErr: DSID-0310028D, problem 2001 (NO_OBJECT), data 0, best match of:\n\t'"+ADBaseDN+"'\n\x00")}
	}
	var out []*ber.Packet
	code := rcSuccess
	for i, e := range found {
		if sizeLimit > 0 && int64(i) >= sizeLimit {
			code = rcSizeLimitExceeded
			break
		}
		out = append(out, a.entry(id, e, attrs))
	}
	return append(out, result(id, opSearchDone, code, "", ""))
}

// entry is a SearchResultEntry for e with the attributes asked for: all
// of them for none or "*", none for "1.1".
func (a *ADFake) entry(id int64, e *adEntry, asked []string) *ber.Packet {
	r := ber.Encode(ber.ClassApplication, ber.TypeConstructed, opSearchEntry, nil, "SearchResultEntry")
	r.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, e.dn, "objectName"))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attributes")
	add := func(desc string, vals [][]byte) {
		at := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "attribute")
		at.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, desc, "type"))
		set := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "vals")
		for _, v := range vals {
			set.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, string(v), "value"))
		}
		at.AppendChild(set)
		list.AppendChild(at)
	}
	if len(asked) == 0 || (len(asked) == 1 && asked[0] == "*") {
		for _, at := range e.attrs {
			asked = append(asked, at.name)
		}
	}
	for _, desc := range asked {
		name, lo, hi, isRange := splitRange(desc)
		if isRange {
			a.mu.Lock()
			a.ranged = append(a.ranged, desc)
			a.mu.Unlock()
		}
		at := e.get(name)
		if at == nil {
			continue
		}
		if !isRange && len(at.vals) <= a.opts.MaxValRange {
			add(at.name, at.vals)
			continue
		}
		if a.opts.Ranges != nil {
			if d, vals, ok := a.opts.Ranges(name, lo, hi, at.vals); ok {
				if d != "" {
					add(d, vals)
				}
				continue
			}
		}
		if d, vals, ok := adRange(at.name, lo, hi, at.vals, a.opts.MaxValRange); ok {
			add(d, vals)
		}
	}
	r.AppendChild(list)
	return message(id, r)
}

// adRange is AD's answer to attr;range=lo-hi (hi -1 for "*"): at most max
// values from lo, under attr;range=lo-end, or attr;range=lo-* when they
// include the last value. ok is false when lo is past the last value.
func adRange(attr string, lo, hi int, all [][]byte, max int) (desc string, vals [][]byte, ok bool) {
	n := len(all)
	if lo > n || (lo == n && hi >= 0) {
		return "", nil, false
	}
	end := n - 1
	if hi >= 0 && hi < end {
		end = hi
	}
	if end-lo+1 > max {
		end = lo + max - 1
	}
	if end == n-1 {
		return fmt.Sprintf("%s;range=%d-*", attr, lo), all[lo:], true
	}
	return fmt.Sprintf("%s;range=%d-%d", attr, lo, end), all[lo : end+1], true
}

// splitRange splits "memberOf;range=1500-*" into memberOf, 1500 and -1.
// Without a range option, lo is 0 and hi -1 (all values).
func splitRange(desc string) (name string, lo, hi int, ok bool) {
	name, opt, has := strings.Cut(desc, ";")
	if !has || len(opt) < 6 || !strings.EqualFold(opt[:6], "range=") {
		return desc, 0, -1, false
	}
	l, h, _ := strings.Cut(opt[6:], "-")
	lo, err := strconv.Atoi(l)
	if err != nil || lo < 0 {
		return name, 0, -1, true
	}
	hi = -1
	if h != "*" {
		if hi, err = strconv.Atoi(h); err != nil || hi < lo {
			hi = -1
		}
	}
	return name, lo, hi, true
}

// matches evaluates an RFC 4511 Filter against e: and, or, not,
// equalityMatch, present, and extensibleMatch with AD's bitwise rules;
// anything else does not match.
func matches(e *adEntry, f *ber.Packet) bool {
	if f.ClassType != ber.ClassContext {
		return false
	}
	switch f.Tag {
	case 0: // and
		for _, c := range f.Children {
			if !matches(e, c) {
				return false
			}
		}
		return true
	case 1: // or
		for _, c := range f.Children {
			if matches(e, c) {
				return true
			}
		}
		return false
	case 2: // not
		return len(f.Children) == 1 && !matches(e, f.Children[0])
	case 3: // equalityMatch
		if len(f.Children) != 2 {
			return false
		}
		at := e.get(string(raw(f.Children[0])))
		if at == nil {
			return false
		}
		v := raw(f.Children[1])
		for _, x := range at.vals {
			if bytes.Equal(x, v) || strings.EqualFold(string(x), string(v)) {
				return true
			}
		}
		return false
	case 7: // present
		return strings.EqualFold(string(raw(f)), "objectClass") || e.get(string(raw(f))) != nil
	case 9: // extensibleMatch
		var rule, attr string
		var val []byte
		for _, c := range f.Children {
			switch c.Tag {
			case 1:
				rule = string(raw(c))
			case 2:
				attr = string(raw(c))
			case 3:
				val = raw(c)
			}
		}
		at := e.get(attr)
		want, err := strconv.ParseInt(string(val), 10, 64)
		if at == nil || len(at.vals) != 1 || err != nil {
			return false
		}
		have, err := strconv.ParseInt(string(at.vals[0]), 10, 64)
		if err != nil {
			return false
		}
		switch rule {
		case "1.2.840.113556.1.4.803": // LDAP_MATCHING_RULE_BIT_AND
			return have&want == want
		case "1.2.840.113556.1.4.804": // LDAP_MATCHING_RULE_BIT_OR
			return have&want != 0
		}
		return false
	}
	return false
}
