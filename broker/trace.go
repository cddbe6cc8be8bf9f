package broker

import (
	"net/http"

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
