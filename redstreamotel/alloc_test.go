package redstreamotel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
)

// TestUnsampledTracingAllocations bounds what tracing costs when spans
// are not sampled, measured through the SDK (OpenTelemetry v1.47.0),
// with its metrics read, the default propagator, and the options of
// each destination's spans and series already made. The bounds are the
// counts reached; what is left is the SDK's and the propagator's own:
//
//   - a handler call of a message that carries a traceparent: 6 (the
//     extracted remote span and its context; the SDK's copy of the start
//     attributes, its span and its context; the HandleSpan);
//   - a publish of one entry: 7 (the SDK's three; the new headers, the
//     carrier and the traceparent string; the done function);
//   - a publish of 10 entries: 4 an entry (the SDK's three and the
//     traceparent string) and 15 for the call (the header array, the
//     spans, the links and the send span).
//
// A change that builds attributes, options or errors for spans nobody
// records, or allocates per measurement, fails it.
func TestUnsampledTracingAllocations(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	h, err := redstreamotel.New(redstreamotel.WithTracerProvider(tp), redstreamotel.WithMeterProvider(mp),
		redstreamotel.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	m := &redstream.Message{ID: "1700000000000-0", Stream: "s", Fields: redstream.Fields("k", "v"), Deliveries: 1,
		Headers: redstream.Fields("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")}
	hc := redstream.HandleCall{Group: "g", Messages: []*redstream.Message{m}}
	if n := testing.AllocsPerRun(100, func() {
		_, span := h.TraceHandle(ctx, &hc)
		span.Outcome(0, redstream.OutcomeAck, nil)
		span.End()
	}); n > 6 {
		t.Errorf("an unsampled handler call: %v allocations, want at most 6", n)
	}

	entries := make([]redstream.Entry, 10)
	ids := make([]string, len(entries))
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "s", Fields: redstream.Fields("k", "v")}
		ids[i] = "1700000000000-0"
	}
	for _, c := range []struct {
		n    int
		most float64
	}{{1, 7}, {10, 4*10 + 15}} {
		pc := redstream.PublishCall{Entries: make([]redstream.Entry, c.n)}
		if n := testing.AllocsPerRun(100, func() {
			copy(pc.Entries, entries) // a Publisher's fresh copies of the caller's entries
			h.TracePublish(ctx, &pc)(ids[:c.n], nil)
		}); n > c.most {
			t.Errorf("an unsampled publish of %d entries: %v allocations, want at most %v", c.n, n, c.most)
		}
	}
}
