package broker

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (OpenTelemetry, off unless Options.Tracer is set): a span per
// request named by its route, one per connector call under it, and the
// store's under those (metrics.WrapStoreTraced), so a slow login shows
// where its time went.

// traceRequest is the middleware that starts the request's span.
func (b *Broker) traceRequest(c *gin.Context) {
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	// A caller's trace (W3C traceparent) continues here.
	ctx := propagation.TraceContext{}.Extract(c.Request.Context(), propagation.HeaderCarrier(c.Request.Header))
	ctx, sp := b.opts.Tracer.Start(ctx, c.Request.Method+" "+route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", c.Request.Method), attribute.String("http.route", route)))
	defer sp.End()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
	st := c.Writer.Status()
	sp.SetAttributes(attribute.Int("http.response.status_code", st))
	if st >= http.StatusInternalServerError {
		sp.SetStatus(codes.Error, http.StatusText(st))
	}
}

// connectorCall starts a connector call: it returns the context to make
// the call with, which ends at the connector's deadline (deadline.go), and
// a function to call with its error when it returns, which ends the span
// and reports the call to ObserveConnector.
func (b *Broker) connectorCall(ctx context.Context, cn *Connector, op string) (context.Context, func(error)) {
	ctx, cancel := withConnectorDeadline(ctx, cn)
	start := time.Now()
	var sp trace.Span
	if b.opts.Tracer != nil {
		ctx, sp = b.opts.Tracer.Start(ctx, "connector."+op, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("portico.connector", cn.ID), attribute.String("portico.connector.runtime", cn.Runtime)))
	}
	return ctx, func(err error) {
		cancel()
		b.observe(cn, op, start, err)
		if sp != nil {
			if err != nil {
				sp.SetStatus(codes.Error, "connector call failed") // never the error text: it may echo input
			}
			sp.End()
		}
	}
}
