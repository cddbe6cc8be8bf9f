package server

import (
	"cmp"
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/portico-idp/portico/broker/config"
)

// tracer builds the OTLP/HTTP trace pipeline cfg asks for, or returns nil
// when tracing is off. The provider is this server's, not the process's
// global one: two servers in one process (tests) keep theirs apart.
func tracer(ctx context.Context, c config.Tracing, version string) (trace.Tracer, func(context.Context) error, error) {
	if c.Endpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint+"/v1/traces"))
	if err != nil {
		return nil, nil, fmt.Errorf("ops.tracing: %w", err)
	}
	ratio := 1.0
	if c.SampleRatio != nil {
		ratio = *c.SampleRatio
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", cmp.Or(c.ServiceName, "portico")),
			attribute.String("service.version", version),
		)),
	)
	return tp.Tracer("github.com/portico-idp/portico"), tp.Shutdown, nil
}
