package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/portico-idp/portico/sdk/plugin/proto"
)

// HostFunc answers a plugin's call back into the broker: JSON in, JSON
// out. The broker offers one only to Portico's own built-in connectors
// run with isolation: process (the local connector reads accounts through
// it); third-party plugins get none, and Host returns nil for them. The
// messages are Portico-internal and carry no compatibility promise.
type HostFunc func(ctx context.Context, req json.RawMessage) (json.RawMessage, error)

type hostKey struct{}

// Host returns the broker's host service for a plugin, from the context
// given to its factory or to any of its calls; nil when the broker offers
// none. The function stays valid after that context ends.
func Host(ctx context.Context) HostFunc {
	h, _ := ctx.Value(hostKey{}).(HostFunc)
	return h
}

func withHost(ctx context.Context, h HostFunc) context.Context {
	if h == nil {
		return ctx
	}
	return context.WithValue(ctx, hostKey{}, h)
}

// hostServer serves a HostFunc on the broker's side.
type hostServer struct {
	proto.UnimplementedHostServer
	h HostFunc
}

func (s hostServer) Call(ctx context.Context, m *proto.Message) (*proto.Message, error) {
	out, err := s.h(ctx, m.GetJson())
	if err != nil {
		return nil, err
	}
	return &proto.Message{Json: out}, nil
}

// hostConn is the plugin's connection to the broker's host service,
// dialled on first use (and again after a failed dial).
type hostConn struct {
	broker *goplugin.GRPCBroker
	id     uint32

	mu sync.Mutex
	c  proto.HostClient
}

func (h *hostConn) client() (proto.HostClient, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		return h.c, nil
	}
	conn, err := h.broker.Dial(h.id)
	if err != nil {
		return nil, fmt.Errorf("plugin: dial the broker's host service: %w", err)
	}
	h.c = proto.NewHostClient(conn)
	return h.c, nil
}

func (h *hostConn) call(ctx context.Context, req json.RawMessage) (json.RawMessage, error) {
	c, err := h.client()
	if err != nil {
		return nil, err
	}
	out, err := c.Call(ctx, &proto.Message{Json: req})
	if err != nil {
		return nil, fmt.Errorf("plugin: host call: %w", err)
	}
	return out.GetJson(), nil
}
