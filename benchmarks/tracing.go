package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/bench"
	"github.com/redstream-go/redstream/redstreamotel"
)

// discard is a span exporter that counts and drops what it is given:
// the figures measure making, sampling and carrying spans, not shipping
// them.
type discard struct{ spans atomic.Int64 }

func (d *discard) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	d.spans.Add(int64(len(spans)))
	return nil
}

func (*discard) Shutdown(context.Context) error { return nil }

// tracingModes are the three ways the tracing figures run: hooks off,
// OpenTelemetry on with no span sampled (the trace context still travels
// in every entry), and on with every span sampled and batched to an
// exporter.
var tracingModes = []struct {
	key     string
	sampler sdktrace.Sampler // nil: tracing off
}{
	{"", nil},
	{".traced.unsampled", sdktrace.NeverSample()},
	{".traced.sampled", sdktrace.AlwaysSample()},
}

// redstreamTracing measures PublishBatch and a Consumer with tracing off,
// on but unsampled, and on and sampled, one after the other, so that the
// three see the same moments of the machine.
func redstreamTracing(ctx context.Context, e *env) error {
	for _, m := range tracingModes {
		var pubOpts []redstream.PublisherOption
		var consOpts []redstream.ConsumerOption
		var tp *sdktrace.TracerProvider
		exported := &discard{}
		if m.sampler != nil {
			tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(m.sampler), sdktrace.WithBatcher(exported))
			hooks, err := redstreamotel.New(redstreamotel.WithTracerProvider(tp),
				redstreamotel.WithPropagator(propagation.TraceContext{}))
			if err != nil {
				return err
			}
			pubOpts = append(pubOpts, redstream.WithPublishMetrics(hooks))
			consOpts = append(consOpts, redstream.WithMetrics(hooks))
		}
		// The consumer drains what the publisher wrote: traced, its
		// entries carry the trace context it reads.
		stream := e.stream("rs-tracing")
		r, err := bench.PublishBatch(ctx, e.rs, stream, e.cfg.N, 1000, e.cfg.Size, pubOpts...)
		if err != nil {
			return err
		}
		r.Name += ", tracing " + tracingNote(m.key)
		e.add("redstream.tracing.publish.batch"+m.key, sysRedstream, r)
		if r, err = bench.ConsumeBacklog(ctx, e.rs, stream, e.cfg.N, 1, consOpts...); err != nil {
			return err
		}
		r.Name += ", tracing " + tracingNote(m.key)
		r.Note = fmt.Sprintf("backlog %d, no-op handler", e.cfg.N)
		e.add("redstream.tracing.consume.1"+m.key, sysRedstream, r)
		if err := e.clean(ctx); err != nil {
			return err
		}
		if tp != nil {
			if err := tp.Shutdown(ctx); err != nil {
				return err
			}
			// Sampled, every entry makes at least a span published and
			// one handled; unsampled, none.
			n := exported.spans.Load()
			if sampled := m.key == ".traced.sampled"; sampled && n < 2*int64(e.cfg.N) || !sampled && n != 0 {
				return fmt.Errorf("tracing %s exported %d spans for %d entries", tracingNote(m.key), n, e.cfg.N)
			}
		}
	}
	return nil
}

func tracingNote(key string) string {
	switch key {
	case ".traced.unsampled":
		return "on, nothing sampled"
	case ".traced.sampled":
		return "on, every span sampled"
	}
	return "off"
}
