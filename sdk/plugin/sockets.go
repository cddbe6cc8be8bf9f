package plugin

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// A call over gRPC crosses several goroutine hand-offs on each side, and
// on a machine whose idle CPUs sleep each hand-off may wait for one to
// wake: a login through a plugin took about three times a bare round trip
// between the two processes (docs/performance.md, the connector
// boundary). So the broker also gives the plugin a few connected sockets
// when it starts it, inherited as file descriptors that only the two
// processes hold, and sends every call but configure over one of them:
// the request as a length-prefixed JSON message, the answer likewise, one
// call at a time per socket, written and read by the calling goroutine
// itself. gRPC stays for configure, host callbacks and as the fallback:
// a plugin built with an older sdk never greets on the sockets, and the
// broker keeps to gRPC with it.

// EnvCallFDs is the environment variable naming the descriptors of the
// call sockets the broker passes the plugin, comma-separated ("3,4").
const EnvCallFDs = "PORTICO_PLUGIN_CALL_FDS"

// hello is the first thing the plugin writes on each call socket; the
// broker sends calls on a socket only after reading it.
var hello = [8]byte{'p', 'o', 'r', 't', 'i', 'c', 'o', 1}

// maxRequest bounds a request the plugin reads from a call socket, as
// gRPC's default bound does on the gRPC path.
const maxRequest = 4 << 20

// A request's message starts with the time left before its deadline and
// the call's id (8 bytes each); an answer's with the id it answers, so an
// answer to another call (a late one, a repeated one: a plugin's bug) is
// never taken for this call's.
const (
	reqHead = 16
	ansHead = 8
)

// frame is a message: its length, then head and body.
func frame(head, body []byte) []byte {
	msg := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(head)+len(body)), uint32(len(head)+len(body)))
	return append(append(msg, head...), body...)
}

// CallSockets is how many call sockets the broker passes a plugin: how
// many calls go over them at once (more go over gRPC meanwhile).
const CallSockets = 8

// Sockets are the call sockets of one plugin process, broker side: make
// them before the process starts, pass Files and Env to it, CloseChild
// once it has started, and give them to the process's Client.
type Sockets struct {
	child  []*os.File
	parent []net.Conn
}

// Files are the plugin's ends, for exec.Cmd.ExtraFiles: the child gets
// them as descriptors 3, 4, ...
func (s *Sockets) Files() []*os.File {
	if s == nil {
		return nil
	}
	return s.child
}

// Env is the environment entry that names them to the plugin.
func (s *Sockets) Env() string {
	if s == nil {
		return EnvCallFDs + "="
	}
	fds := make([]string, len(s.child))
	for i := range s.child {
		fds[i] = strconv.Itoa(3 + i)
	}
	return EnvCallFDs + "=" + strings.Join(fds, ",")
}

// CloseChild closes this process's copies of the plugin's ends: once the
// plugin has them, or if it never starts.
func (s *Sockets) CloseChild() {
	if s == nil {
		return
	}
	for _, f := range s.child {
		f.Close()
	}
}

// Close closes both ends: the plugin's calls in flight on them fail.
func (s *Sockets) Close() {
	if s == nil {
		return
	}
	s.CloseChild()
	for _, c := range s.parent {
		c.Close()
	}
}

// UseSockets makes c send calls over those of s's sockets the plugin
// greeted on, and returns how many. The plugin greets before its
// handshake, so by now a greeting is there to read at once; a plugin that
// did not (an older sdk) gets gRPC only. Answers longer than maxAnswer
// bytes fail the call.
func (c *Client) UseSockets(s *Sockets, maxAnswer int) int {
	if s == nil {
		return 0
	}
	c.maxAnswer = maxAnswer
	c.fast = make(chan net.Conn, len(s.parent))
	for _, conn := range s.parent {
		if greeted(conn) {
			c.fast <- conn
		} else {
			conn.Close()
		}
	}
	return len(c.fast)
}

// callSocket is Call over a free call socket; ok is false if none is
// free.
func (c *Client) callSocket(ctx context.Context, raw []byte) (out []byte, ok bool, err error) {
	if ctx.Err() != nil {
		return nil, true, context.Cause(ctx) // over before it started
	}
	if len(raw)+reqHead > maxRequest {
		return nil, false, nil // gRPC says what is wrong with it
	}
	var conn net.Conn
	for conn == nil {
		select {
		case conn = <-c.fast:
		default:
			return nil, false, nil
		}
		if !idle(conn) {
			// Bytes nobody asked for: the plugin is out of step.
			conn.Close()
			conn = nil
		}
	}
	x := &exchange{conn: conn, max: c.maxAnswer, id: c.ids.Add(1)}
	out, err = x.run(ctx, raw)
	switch {
	case err == nil:
		c.fast <- conn
	case ctx.Err() != nil && x.untouched:
		c.fast <- conn // given up on before a byte was sent
	case x.untouched:
		// The plugin closed its end (after a request it could not
		// read, say): nothing was sent, so gRPC may carry the call.
		conn.Close()
		return nil, false, nil
	case ctx.Err() != nil && x.sent:
		// Given up on: the plugin is told, and the socket comes back once
		// the plugin's answer is read and dropped.
		go c.drain(x)
	default:
		conn.Close() // its state is unknown
	}
	return out, true, err
}

// cancelByte, sent after a request, tells the plugin the broker gave up on
// it. A request's length prefix starts with a zero byte (requests are
// under 16 MiB), so a late one before the next request is told apart.
const cancelByte = 1

// drainTimeout bounds the wait for the answer to a call given up on; a
// plugin that does not answer by then loses the socket.
const drainTimeout = 30 * time.Second

// drain cancels x's call in the plugin, reads and drops its answer, and
// puts the socket back.
func (c *Client) drain(x *exchange) {
	x.conn.SetDeadline(time.Now().Add(drainTimeout))
	if _, err := x.conn.Write([]byte{cancelByte}); err != nil {
		x.conn.Close()
		return
	}
	if _, err := x.finish(); err != nil || x.conn.SetDeadline(time.Time{}) != nil {
		x.conn.Close()
		return
	}
	c.fast <- x.conn
}

// exchange is one call on a socket: the request written, then the answer
// read, within the call's context; cut short by the context, it can be
// finished later (drain).
type exchange struct {
	conn      net.Conn
	max       int
	id        uint64
	sent      bool    // the whole request was written
	untouched bool    // nothing was written: the socket is as it was
	hdr       [4]byte // the answer's length prefix
	got       int     // bytes of hdr and then of out read
	out       []byte
}

func (x *exchange) run(ctx context.Context, raw []byte) ([]byte, error) {
	// The context alone ends the exchange (AfterFunc), not a deadline of
	// the socket's own: one expiring with the context's, a moment before
	// the context says so, would look like a broken socket.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		x.conn.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	// The request: its length, the time left (ns, 0: no deadline), as
	// gRPC's grpc-timeout carries it, the call's id and the JSON.
	var left int64
	if dl, ok := ctx.Deadline(); ok {
		left = max(int64(time.Until(dl)), 1)
	}
	var head [reqHead]byte
	binary.BigEndian.PutUint64(head[:], uint64(left))
	binary.BigEndian.PutUint64(head[8:], x.id)
	n, err := x.conn.Write(frame(head[:], raw))
	x.sent, x.untouched = err == nil, n == 0
	var out []byte
	if err == nil {
		out, err = x.finish()
	}
	if !stop() {
		<-fired // the deadline is in the past now, not later
		return nil, context.Cause(ctx)
	}
	return out, err
}

// finish reads the rest of the answer.
func (x *exchange) finish() ([]byte, error) {
	for x.got < len(x.hdr) {
		n, err := x.conn.Read(x.hdr[x.got:])
		x.got += n
		if err != nil {
			return nil, err
		}
	}
	if x.out == nil {
		n := binary.BigEndian.Uint32(x.hdr[:])
		if n < ansHead || uint64(n) > uint64(x.max)+ansHead {
			return nil, fmt.Errorf("answer of %d bytes, over the limit of %d or without its call's id", n, x.max)
		}
		x.out = make([]byte, n)
	}
	for body := x.got - len(x.hdr); body < len(x.out); body = x.got - len(x.hdr) {
		n, err := x.conn.Read(x.out[body:])
		x.got += n
		if err != nil {
			return nil, err
		}
	}
	if id := binary.BigEndian.Uint64(x.out); id != x.id {
		return nil, fmt.Errorf("an answer to call %d, not to this call (%d)", id, x.id)
	}
	return x.out[ansHead:], nil
}

// serveSockets serves calls on the sockets EnvCallFDs names (plugin
// side), each in a goroutine of its own.
func serveSockets(s *server) {
	for _, conn := range callConns(s.log) {
		// Greeted now, before go-plugin's handshake: the broker looks
		// for the greeting once the handshake is done, without waiting.
		if _, err := conn.Write(hello[:]); err != nil {
			conn.Close()
			continue
		}
		go s.serveConn(conn)
	}
}

// serveConn answers the calls on one socket until the broker closes it.
func (s *server) serveConn(conn net.Conn) {
	defer conn.Close()
	var hdr [4]byte
	for {
		// A cancel that came after its call's answer was written is
		// dropped: the prefix of a request starts with a zero byte.
		if _, err := io.ReadFull(conn, hdr[:1]); err != nil {
			return
		}
		if hdr[0] == cancelByte {
			continue
		}
		if _, err := io.ReadFull(conn, hdr[1:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxRequest {
			s.log.Error("plugin: a request over the limit on a call socket; closing it", "bytes", n)
			return
		}
		if n < reqHead {
			return
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(conn, req); err != nil {
			return
		}
		left := time.Duration(binary.BigEndian.Uint64(req))
		out, ok := s.callWatched(conn, req[reqHead:], left)
		if !ok {
			return
		}
		if _, err := conn.Write(frame(req[8:reqHead], out)); err != nil { // the call's id, the answer
			return
		}
	}
}

// callWatched runs one call with a context that ends when the broker
// gives up: it sends nothing more on the socket until it has the answer
// but a cancel byte, or it closes the socket. ok is false if the socket
// was closed or the answer cannot be encoded: the socket is done with.
func (s *server) callWatched(conn net.Conn, req []byte, left time.Duration) (out []byte, ok bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if left > 0 {
		var cancelDL context.CancelFunc
		ctx, cancelDL = context.WithTimeout(ctx, left)
		defer cancelDL()
	}
	closed := make(chan bool, 1)
	go func() {
		var b [1]byte
		n, err := conn.Read(b[:])
		var ne net.Error
		timedOut := n == 0 && errors.As(err, &ne) && ne.Timeout()
		if !timedOut {
			cancel()
		}
		closed <- n == 0 && !timedOut
	}()
	out, err := s.call(ctx, req, 0)
	conn.SetReadDeadline(time.Unix(1, 0)) // ends the watch
	if <-closed || conn.SetReadDeadline(time.Time{}) != nil {
		return nil, false
	}
	if err != nil {
		s.log.Error("plugin: call socket", "err", err)
		return nil, false
	}
	return out, true
}
