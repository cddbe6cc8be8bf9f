package plugin

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/portico-idp/portico/sdk"
	"github.com/portico-idp/portico/sdk/wire"
)

// pair is a connected pair of Unix sockets, as NewSockets makes them.
func pair(t testing.TB) (broker, plugin net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "test")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// readRequest reads one request on p, as a plugin does, and returns its
// call id.
func readRequest(p net.Conn) []byte {
	var hdr [4]byte
	io.ReadFull(p, hdr[:])
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	io.ReadFull(p, body)
	if len(body) < reqHead {
		return make([]byte, 8)
	}
	return body[8:reqHead]
}

// answer is a plugin's answer to the call id.
func answer(id, body []byte) []byte { return frame(id, body) }

// TestGreeted: a socket is used only after the plugin's greeting, read
// without waiting.
func TestGreeted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write []byte
		want  bool
	}{
		{"greeting", hello[:], true},
		{"none (an older sdk)", nil, false},
		{"another greeting", []byte("portico\x02"), false},
		{"half a greeting", hello[:4], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := pair(t)
			if len(tc.write) > 0 {
				if _, err := p.Write(tc.write); err != nil {
					t.Fatal(err)
				}
			}
			if got := greeted(b); got != tc.want {
				t.Errorf("greeted %v, want %v", got, tc.want)
			}
		})
	}
}

// TestExchangeBadAnswers: an answer over the limit, cut short or never
// sent fails the call, and the socket is not used again.
func TestExchangeBadAnswers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer []byte
	}{
		{"over the limit", binary.BigEndian.AppendUint32(nil, 1<<20+1)},
		{"cut short", append(binary.BigEndian.AppendUint32(nil, 10), "abc"...)},
		{"half a prefix", []byte{0, 0}},
		{"nothing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := pair(t)
			c := &Client{fast: make(chan net.Conn, 1), maxAnswer: 1 << 20}
			c.fast <- b
			go func() {
				var hdr [4]byte
				io.ReadFull(p, hdr[:])
				io.ReadFull(p, make([]byte, binary.BigEndian.Uint32(hdr[:])))
				p.Write(tc.answer)
				p.Close()
			}()
			_, sent, err := c.callSocket(context.Background(), []byte(`{"op":"info"}`))
			if !sent || err == nil {
				t.Fatalf("sent %v, err %v; want a failed call", sent, err)
			}
			if len(c.fast) != 0 {
				t.Error("the socket went back to the pool")
			}
		})
	}
}

// TestExchangeCancelDrains: a call given up on returns at once; the plugin
// gets a cancel byte, and the socket comes back once its answer is read.
func TestExchangeCancelDrains(t *testing.T) {
	b, p := pair(t)
	c := &Client{fast: make(chan net.Conn, 1), maxAnswer: 1 << 20}
	c.fast <- b
	gotRequest, gotCancel := make(chan struct{}), make(chan byte, 1)
	go func() {
		id := readRequest(p)
		close(gotRequest)
		var one [1]byte
		io.ReadFull(p, one[:])
		gotCancel <- one[0]
		p.Write(answer(id, []byte(`{}`)))
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-gotRequest; cancel() }()
	_, sent, err := c.callSocket(ctx, []byte(`{"op":"info"}`))
	if !sent || !errors.Is(err, context.Canceled) {
		t.Fatalf("sent %v, err %v; want context.Canceled", sent, err)
	}
	if got := <-gotCancel; got != cancelByte {
		t.Errorf("the plugin got %#x, want the cancel byte", got)
	}
	select {
	case conn := <-c.fast:
		if conn != b {
			t.Error("another socket came back")
		}
	case <-time.After(30 * time.Second): // liveness only
		t.Fatal("the socket did not come back")
	}
}

// TestServeConn drives the plugin's side of a socket: a late cancel byte
// before a request is dropped, a request is answered as over gRPC, a
// request over the limit closes the socket, and so does the broker
// closing it during a call, which cancels the call.
func TestServeConn(t *testing.T) {
	s := &server{factory: factory, log: slog.New(slog.DiscardHandler)}
	b, p := pair(t)
	done := make(chan struct{})
	go func() { s.serveConn(p); close(done) }()
	// A late cancel byte, then a request without deadline, call 0.
	msg := append([]byte{cancelByte}, frame(make([]byte, reqHead), []byte(`{"op":"info"}`))...)
	if _, err := b.Write(msg); err != nil {
		t.Fatal(err)
	}
	x := &exchange{conn: b, max: 1 << 20}
	out, err := x.finish()
	if err != nil {
		t.Fatal(err)
	}
	var r wire.Response
	if err := json.Unmarshal(out, &r); err != nil || r.Info == nil || r.Info.Version != wire.Version {
		t.Fatalf("answer %s (%v), want the version", out, err)
	}
	if _, err := b.Write(binary.BigEndian.AppendUint32(nil, maxRequest+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second): // liveness only
		t.Fatal("a request over the limit did not close the socket")
	}
	if _, err := b.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("read after the plugin closed: %v, want EOF", err)
	}
}

// FuzzAnswer: whatever a plugin writes as an answer, the broker's side
// returns it whole, within the limit, or fails; it never panics.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 1})
	f.Fuzz(func(t *testing.T, answer []byte) {
		b, p := net.Pipe()
		defer b.Close()
		go func() {
			var hdr [4]byte
			io.ReadFull(p, hdr[:])
			io.ReadFull(p, make([]byte, binary.BigEndian.Uint32(hdr[:])))
			p.Write(answer)
			p.Close()
		}()
		x := &exchange{conn: b, max: 64}
		out, err := x.run(context.Background(), []byte(`{}`))
		if err == nil && (len(out) > 64 || len(answer) < 4+len(out)) {
			t.Fatalf("answer %d bytes from %d written", len(out), len(answer))
		}
	})
}

// TestExchangeDoneBeforeSend: a call whose context ended before it was
// sent leaves the socket in the pool, untouched.
func TestExchangeDoneBeforeSend(t *testing.T) {
	b, p := pair(t)
	c := &Client{fast: make(chan net.Conn, 1), maxAnswer: 1 << 20}
	c.fast <- b
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, sent, err := c.callSocket(ctx, []byte(`{"op":"info"}`))
	if !sent || !errors.Is(err, context.Canceled) {
		t.Fatalf("sent %v, err %v; want context.Canceled", sent, err)
	}
	if len(c.fast) != 1 {
		t.Fatal("the socket left the pool")
	}
	// The plugin got nothing, and the socket still works.
	go func() {
		p.Write(answer(readRequest(p), []byte(`{}`)))
	}()
	out, _, err := c.callSocket(context.Background(), []byte(`{"op":"info"}`))
	if err != nil || string(out) != "{}" {
		t.Fatalf("the next call: %q, %v", out, err)
	}
}

// deadlineConn logs in with whether the call's context has a deadline.
type deadlineConn struct{}

func (deadlineConn) Login(ctx context.Context, _ sdk.Scopes, _, _ string) (sdk.Identity, error) {
	_, ok := ctx.Deadline()
	return sdk.Identity{Subject: fmt.Sprint(ok)}, nil
}

// TestCallSocketDeadline: the call's deadline reaches the connector's
// context, as gRPC's grpc-timeout carries it.
func TestCallSocketDeadline(t *testing.T) {
	s := &server{log: slog.New(slog.DiscardHandler), conn: deadlineConn{}}
	b, p := pair(t)
	go s.serveConn(p)
	req, _ := json.Marshal(wire.Request{Op: wire.OpLogin, Username: "a"})
	for _, withDeadline := range []bool{true, false} {
		ctx := context.Background()
		if withDeadline {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Hour)
			defer cancel()
		}
		out, err := (&exchange{conn: b, max: 1 << 20}).run(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var r wire.Response
		if err := json.Unmarshal(out, &r); err != nil || r.Identity == nil || r.Identity.Subject != fmt.Sprint(withDeadline) {
			t.Errorf("with a deadline %v: the connector saw %s (%v)", withDeadline, out, err)
		}
	}
}

// TestExchangePluginClosed: a socket the plugin has closed takes nothing:
// the call goes over gRPC (ok false), and the socket leaves the pool.
func TestExchangePluginClosed(t *testing.T) {
	b, p := pair(t)
	p.Close()
	c := &Client{fast: make(chan net.Conn, 1), maxAnswer: 1 << 20}
	c.fast <- b
	_, sent, err := c.callSocket(context.Background(), []byte(`{"op":"info"}`))
	if sent || err != nil {
		t.Fatalf("sent %v, err %v; want the call left to gRPC", sent, err)
	}
	if len(c.fast) != 0 {
		t.Error("the closed socket stayed in the pool")
	}
	// A request over the limit is left to gRPC without taking a socket.
	c.fast <- b
	if _, sent, _ := c.callSocket(context.Background(), make([]byte, maxRequest)); sent || len(c.fast) != 1 {
		t.Errorf("a request over the limit: sent %v, pool %d", sent, len(c.fast))
	}
}

// TestExchangeAnswerToAnotherCall: an answer carrying another call's id
// fails the call and closes the socket; bytes waiting on an idle socket
// (a late or repeated answer) close it before it is used, and the call
// goes elsewhere. A plugin's bug never hands one call another's answer.
func TestExchangeAnswerToAnotherCall(t *testing.T) {
	b, p := pair(t)
	c := &Client{fast: make(chan net.Conn, 1), maxAnswer: 1 << 20}
	c.fast <- b
	go func() {
		readRequest(p)
		p.Write(answer([]byte{0, 0, 0, 0, 0, 0, 0, 99}, []byte(`{"identity":{"subject":"someone else"}}`)))
	}()
	out, sent, err := c.callSocket(context.Background(), []byte(`{"op":"login"}`))
	if !sent || err == nil {
		t.Fatalf("sent %v, answer %q, err %v; want a failed call", sent, out, err)
	}
	if len(c.fast) != 0 {
		t.Error("the socket went back to the pool")
	}

	b2, p2 := pair(t)
	c.fast <- b2
	p2.Write(answer(make([]byte, 8), []byte(`{"identity":{"subject":"stale"}}`)))
	if _, sent, err := c.callSocket(context.Background(), []byte(`{"op":"login"}`)); sent || err != nil {
		t.Errorf("on a socket with bytes waiting: sent %v, err %v; want the call left to gRPC", sent, err)
	}
	if len(c.fast) != 0 {
		t.Error("the socket with bytes waiting went back to the pool")
	}
}
