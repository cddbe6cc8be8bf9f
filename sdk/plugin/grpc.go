package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portico-idp/portico/sdk/internal/wirejson"
	"github.com/portico-idp/portico/sdk/plugin/proto"
	"github.com/portico-idp/portico/sdk/wire"
)

// GRPCPlugin is the go-plugin definition of a connector, used on both
// sides: the plugin sets Factory and Log (Serve does), the broker sets
// Host when it offers the plugin a host service.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	Factory Factory
	Log     *slog.Logger
	Host    HostFunc

	sockets bool // serve the call sockets EnvCallFDs names (Serve sets it)
}

// GRPCServer registers the connector service (plugin side).
func (p *GRPCPlugin) GRPCServer(b *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Factory == nil {
		return errors.New("plugin: no connector factory")
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := &server{factory: p.Factory, log: log, broker: b}
	proto.RegisterConnectorServer(s, srv)
	if p.sockets {
		serveSockets(srv)
	}
	return nil
}

// GRPCClient returns a *Client for the plugin's connector service (broker
// side), and serves Host, if set, for the plugin to call back.
func (p *GRPCPlugin) GRPCClient(_ context.Context, b *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	cl := &Client{c: proto.NewConnectorClient(c)}
	if p.Host != nil {
		cl.hostID = b.NextId()
		go b.AcceptAndServe(cl.hostID, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			proto.RegisterHostServer(s, hostServer{h: p.Host})
			return s
		})
	}
	return cl, nil
}

// Client is the broker's side of one plugin's connector service.
type Client struct {
	c      proto.ConnectorClient
	hostID uint32

	fast      chan net.Conn // free call sockets (UseSockets); nil: gRPC only
	maxAnswer int
	ids       atomic.Uint64 // of calls on the sockets
}

// Call carries one request to the plugin: a wire.Transport. An error is a
// failure of the boundary (the process is gone, the deadline passed, the
// answer was not JSON), which wire.Remote reports as sdk.ErrUnavailable.
func (c *Client) Call(ctx context.Context, req wire.Request) (wire.Response, error) {
	raw, err := json.Marshal(req)
	if err != nil {
		return wire.Response{}, fmt.Errorf("plugin: encode %s request: %w", req.Op, err)
	}
	var out []byte
	sent := false
	if req.Op != wire.OpConfigure && c.fast != nil {
		out, sent, err = c.callSocket(ctx, raw)
	}
	if !sent {
		m := &proto.Message{Json: raw}
		if req.Op == wire.OpConfigure {
			m.HostService = c.hostID
		}
		var ans *proto.Message
		if ans, err = c.c.Call(ctx, m); err == nil {
			out = ans.GetJson()
		}
	}
	if err != nil {
		return wire.Response{}, fmt.Errorf("plugin: %s call: %w", req.Op, err)
	}
	var resp wire.Response
	if err := json.Unmarshal(out, &resp); err != nil {
		return wire.Response{}, fmt.Errorf("plugin: unreadable answer to %s: %w", req.Op, err)
	}
	return resp, nil
}

// server is the plugin's side: it builds the connector on configure and
// hands every other request to wire.Serve. A panic in the connector is not
// recovered: it ends the process, and the broker treats it as a crash
// (fails the call as unavailable and restarts the plugin), which is safer
// than serving on from a state nobody planned for.
type server struct {
	proto.UnimplementedConnectorServer
	factory Factory
	log     *slog.Logger
	broker  *goplugin.GRPCBroker

	mu   sync.RWMutex
	conn any
	host HostFunc
}

func (s *server) Call(ctx context.Context, m *proto.Message) (*proto.Message, error) {
	raw, err := s.call(ctx, m.GetJson(), m.GetHostService())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &proto.Message{Json: raw}, nil
}

// call answers one request, given and answered as JSON: over gRPC or a
// call socket (sockets.go).
func (s *server) call(ctx context.Context, raw []byte, hostID uint32) ([]byte, error) {
	var resp wire.Response
	req, err := wirejson.DecodeRequest(raw)
	if err != nil {
		resp = failed("unreadable request: " + err.Error())
	} else {
		resp = s.serve(ctx, req, hostID)
	}
	out, err := wirejson.AppendResponse(nil, &resp)
	if err != nil {
		return nil, fmt.Errorf("encode answer to %s: %w", req.Op, err)
	}
	return out, nil
}

func (s *server) serve(ctx context.Context, req wire.Request, hostID uint32) wire.Response {
	if req.Op == wire.OpConfigure {
		return s.configure(ctx, req.Config, hostID)
	}
	s.mu.RLock()
	c, host := s.conn, s.host
	s.mu.RUnlock()
	if c == nil {
		if req.Op == wire.OpInfo {
			// Before configure the broker only checks the version.
			return wire.Response{Info: &wire.Info{Version: wire.Version}}
		}
		return failed("the plugin was not configured")
	}
	return wire.Serve(withHost(ctx, host), c, req)
}

func (s *server) configure(ctx context.Context, config json.RawMessage, hostID uint32) wire.Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return failed("the plugin was configured already")
	}
	var host HostFunc
	if hostID != 0 {
		host = (&hostConn{broker: s.broker, id: hostID}).call
	}
	if len(config) == 0 {
		config = json.RawMessage("null")
	}
	// The factory's context outlives the configure call: connectors keep
	// it for background work (key set refreshes). The broker bounds the
	// call itself, and kills a plugin that does not answer it in time.
	c, err := s.factory(withHost(context.WithoutCancel(ctx), host), config, s.log)
	if err != nil {
		return wire.Response{Error: wire.ErrorOf(err)}
	}
	if c == nil {
		return failed("the plugin's factory returned no connector")
	}
	s.conn, s.host = c, host
	return wire.Response{}
}

func failed(msg string) wire.Response {
	return wire.Response{Error: &wire.Error{Kind: wire.KindFailed, Message: msg}}
}
