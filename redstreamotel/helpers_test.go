package redstreamotel_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tracing is an SDK set up to record every span and measurement.
type tracing struct {
	hooks  *redstreamotel.Hooks
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

func newTracing(t *testing.T, opts ...redstreamotel.Option) *tracing {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	h, err := redstreamotel.New(append([]redstreamotel.Option{
		redstreamotel.WithTracerProvider(tp), redstreamotel.WithMeterProvider(mp),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &tracing{hooks: h, spans: sr, reader: reader}
}

// named returns the ended spans called name, in the order they ended.
func (tr *tracing) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tr.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// wait waits until n spans called name have ended and returns them.
func (tr *tracing) wait(t *testing.T, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d spans %q (have: %s)", n, name, tr.names()), func() bool { return len(tr.named(name)) >= n })
	return tr.named(name)
}

// one waits for the one span called name.
func (tr *tracing) one(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := tr.wait(t, name, 1)
	if len(spans) != 1 {
		t.Fatalf("%d spans %q, want 1", len(spans), name)
	}
	return spans[0]
}

func (tr *tracing) names() string {
	var names []string
	for _, s := range tr.spans.Ended() {
		names = append(names, s.Name())
	}
	return strings.Join(names, ", ")
}

// attr returns span s's attribute key, and whether it has one.
func attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs fails unless span s has each attribute, by name, with its
// value (a string, int, bool or float64).
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, kv map[string]any) {
	t.Helper()
	for key, want := range kv {
		got, ok := attr(s, key)
		if !ok {
			t.Errorf("span %q: no attribute %s (have %v)", s.Name(), key, s.Attributes())
			continue
		}
		if got.AsInterface() != norm(want) {
			t.Errorf("span %q: %s = %v, want %v", s.Name(), key, got.AsInterface(), want)
		}
	}
}

// wantNoAttrs fails if span s has any of the attributes.
func wantNoAttrs(t *testing.T, s sdktrace.ReadOnlySpan, keys ...string) {
	t.Helper()
	for _, key := range keys {
		if v, ok := attr(s, key); ok {
			t.Errorf("span %q: %s = %v, want none", s.Name(), key, v.AsInterface())
		}
	}
}

// norm turns an int into the int64 that attribute values hold.
func norm(v any) any {
	if i, ok := v.(int); ok {
		return int64(i)
	}
	return v
}

// event returns span s's events called name.
func events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// eventAttr returns event e's attribute key.
func eventAttr(e sdktrace.Event, key string) (attribute.Value, bool) {
	for _, kv := range e.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// linksTo reports whether span s links to sc.
func linksTo(s sdktrace.ReadOnlySpan, sc trace.SpanContext) bool {
	return slices.ContainsFunc(s.Links(), func(l sdktrace.Link) bool {
		return l.SpanContext.TraceID() == sc.TraceID() && l.SpanContext.SpanID() == sc.SpanID()
	})
}

// wantChild fails unless child is in parent's trace with parent as its
// parent.
func wantChild(t *testing.T, child, parent sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span %q is in trace %s, want the trace of %q, %s", child.Name(), child.SpanContext().TraceID(), parent.Name(), parent.SpanContext().TraceID())
	}
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q has parent %s, want %q's span %s", child.Name(), child.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID())
	}
}

// run runs a consumer until the test ends.
func run(t *testing.T, c interface {
	Run(context.Context) error
	Close() error
}) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
}

// collect reads every measurement so far.
func (tr *tracing) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tr.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// instrument returns the aggregation of the instrument called name.
func instrument(rm metricdata.ResourceMetrics, name string) (metricdata.Aggregation, string) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data, m.Unit
			}
		}
	}
	return nil, ""
}

// kvs turns name, value pairs into attributes.
func kvs(pairs ...string) attribute.Set {
	var attrs []attribute.KeyValue
	for i := 0; i+1 < len(pairs); i += 2 {
		attrs = append(attrs, attribute.String(pairs[i], pairs[i+1]))
	}
	return attribute.NewSet(attrs...)
}

// counter returns the value of counter name's series with exactly the
// attributes set, and whether it exists.
func counter(rm metricdata.ResourceMetrics, name string, set attribute.Set) (int64, bool) {
	data, _ := instrument(rm, name)
	sum, ok := data.(metricdata.Sum[int64])
	if !ok {
		return 0, false
	}
	for _, dp := range sum.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value, true
		}
	}
	return 0, false
}

// histogramCount returns the count of histogram name's series with
// exactly the attributes set.
func histogramCount(rm metricdata.ResourceMetrics, name string, set attribute.Set) (uint64, bool) {
	data, _ := instrument(rm, name)
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		return 0, false
	}
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Count, true
		}
	}
	return 0, false
}

// dump lists instrument name's series, for failure messages.
func dump(rm metricdata.ResourceMetrics, name string) string {
	data, _ := instrument(rm, name)
	var b strings.Builder
	switch d := data.(type) {
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			fmt.Fprintf(&b, "  %v = %d\n", dp.Attributes.ToSlice(), dp.Value)
		}
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			fmt.Fprintf(&b, "  %v count %d\n", dp.Attributes.ToSlice(), dp.Count)
		}
	}
	return b.String()
}

// counting is a Metrics that counts entries published and handled.
type counting struct {
	redstream.NopMetrics
	mu        sync.Mutex
	published int
	handled   map[redstream.Outcome]int
}

func (c *counting) Published(_ string, n int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.published += n
	}
}

func (c *counting) Handled(_, _ string, o redstream.Outcome, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handled == nil {
		c.handled = map[redstream.Outcome]int{}
	}
	c.handled[o]++
}

func (c *counting) counts() (int, map[redstream.Outcome]int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.published, maps.Clone(c.handled)
}

// histogramPoint returns the data point of histogram name's series with
// exactly the attributes set.
func histogramPoint(rm metricdata.ResourceMetrics, name string, set attribute.Set) (metricdata.HistogramDataPoint[float64], bool) {
	data, _ := instrument(rm, name)
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		return metricdata.HistogramDataPoint[float64]{}, false
	}
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp, true
		}
	}
	return metricdata.HistogramDataPoint[float64]{}, false
}

// lasted returns how long span s lasted, in seconds.
func lasted(s sdktrace.ReadOnlySpan) float64 { return s.EndTime().Sub(s.StartTime()).Seconds() }

// conventionBuckets are the histogram boundaries the conventions
// recommend for messaging durations.
var conventionBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
