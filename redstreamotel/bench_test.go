package redstreamotel_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
	"github.com/redstream-go/redstream/redstreamtest"
)

// The cost of tracing, as benchmarks/ measures it (tracing off, on but
// unsampled, on and sampled), for a CPU profile of each mode:
//
//	go test -run '^$' -bench 'Tracing/unsampled' -cpuprofile cpu.out ./redstreamotel

// tracingModes are the benchmarks' three modes: no hooks, hooks whose
// spans are never sampled, and hooks whose spans all are.
var tracingModes = []struct {
	name    string
	sampler sdktrace.Sampler
}{{"off", nil}, {"unsampled", sdktrace.NeverSample()}, {"sampled", sdktrace.AlwaysSample()}}

// benchHooks returns the hooks of a mode, nil when tracing is off. The
// global meter provider is the no-op one, as in benchmarks/.
func benchHooks(b *testing.B, sampler sdktrace.Sampler) redstream.Metrics {
	if sampler == nil {
		return redstream.NopMetrics{}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discardExporter{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	h, err := redstreamotel.New(redstreamotel.WithTracerProvider(tp), redstreamotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		b.Fatal(err)
	}
	return h
}

type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

var benchPayload = redstream.Fields("payload", strings.Repeat("x", 100))

// BenchmarkPublishBatchTracing publishes batches of 1000 entries.
func BenchmarkPublishBatchTracing(b *testing.B) {
	client := redstreamtest.StartRedis(b).Client(b)
	for _, m := range tracingModes {
		b.Run(m.name, func(b *testing.B) {
			p, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(benchHooks(b, m.sampler)))
			entries := make([]redstream.Entry, 1000)
			for i := range entries {
				entries[i] = redstream.Entry{Stream: "bench-" + m.name, Fields: benchPayload}
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.PublishBatch(ctx, entries); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "msgs/s")
			client.Do(ctx, client.B().Del().Key("bench-"+m.name).Build())
		})
	}
}

// BenchmarkConsumeTracing drains a backlog of b.N entries published in
// the same mode, so that traced entries carry a traceparent, with a
// no-op handler.
func BenchmarkConsumeTracing(b *testing.B) {
	client := redstreamtest.StartRedis(b).Client(b)
	for _, m := range tracingModes {
		b.Run(m.name, func(b *testing.B) {
			hooks := benchHooks(b, m.sampler)
			ctx := context.Background()
			stream := "bench-consume-" + m.name
			client.Do(ctx, client.B().Del().Key(stream).Build())
			p, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(hooks))
			n := max(b.N, 1000)
			entries := make([]redstream.Entry, 1000)
			for i := range entries {
				entries[i] = redstream.Entry{Stream: stream, Fields: benchPayload}
			}
			for done := 0; done < n; done += len(entries) {
				if _, err := p.PublishBatch(ctx, entries[:min(len(entries), n-done)]); err != nil {
					b.Fatal(err)
				}
			}
			cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
				redstream.StartID("0"), redstream.WithMetrics(hooks))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan error, 1)
			go func() { done <- cons.Run(ctx) }()
			for cons.Stats().Acked < int64(n) {
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
			if err := cons.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
			<-done
			client.Do(ctx, client.B().Del().Key(stream).Build())
		})
	}
}

// BenchmarkTracePublishUnsampled is the hooks' own share of a traced,
// unsampled PublishBatch of 1000 entries, without Redis.
func BenchmarkTracePublishUnsampled(b *testing.B) {
	h := benchHooks(b, sdktrace.NeverSample()).(*redstreamotel.Hooks)
	entries := make([]redstream.Entry, 1000)
	ids := make([]string, len(entries))
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "bench", Fields: benchPayload}
		ids[i] = "1700000000000-0"
	}
	call := redstream.PublishCall{Entries: make([]redstream.Entry, len(entries))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		copy(call.Entries, entries)
		h.TracePublish(ctx, &call)(ids, nil)
	}
}

// BenchmarkTraceHandleUnsampled is the hooks' own share of a traced,
// unsampled handler call of a message that carries a traceparent.
func BenchmarkTraceHandleUnsampled(b *testing.B) {
	h := benchHooks(b, sdktrace.NeverSample()).(*redstreamotel.Hooks)
	m := &redstream.Message{ID: "1700000000000-0", Stream: "bench", Fields: benchPayload, Deliveries: 1,
		Headers: redstream.Fields("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")}
	call := redstream.HandleCall{Group: "g", Messages: []*redstream.Message{m}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := h.TraceHandle(ctx, &call)
		span.Outcome(0, redstream.OutcomeAck, nil)
		span.End()
	}
}

// BenchmarkPublishBatchHeaderOnly is PublishBatch without tracing of
// entries that carry a traceparent header: the cost of the header alone.
func BenchmarkPublishBatchHeaderOnly(b *testing.B) {
	client := redstreamtest.StartRedis(b).Client(b)
	p, _ := redstream.NewPublisher(client)
	entries := make([]redstream.Entry, 1000)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "bench-h", Fields: benchPayload,
			Headers: redstream.Fields("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PublishBatch(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "msgs/s")
}
