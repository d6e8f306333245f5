package redstreamprom_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamprom"
	"github.com/redstream-go/redstream/redstreamtest"
)

// TestMetricsEndToEnd drives a real Publisher and Consumer and checks the
// values served on /metrics.
func TestMetricsEndToEnd(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	stream, group := t.Name(), "workers"
	const n = 10

	m := mustMetrics(t)
	url := serve(t, m)

	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range n {
		id, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("i", fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	bad := ids[3]
	handle := redstream.HandlerFunc(func(ctx context.Context, msg *redstream.Message) error {
		if msg.ID == bad {
			return errors.New("always fails")
		}
		return nil
	})
	cons, err := redstream.NewConsumer(client, stream, group, handle,
		redstream.StartID("0"), redstream.WithMetrics(m),
		redstream.MaxDeliveries(2), redstream.RetryBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	t.Cleanup(func() { cons.Close() })

	sg := []string{"stream", stream, "group", group}
	outcome := func(e exposition, o string) float64 {
		v, _ := e.value("redstream_handled_total", append(sg, "outcome", o)...)
		return v
	}
	waitFor(t, 10*time.Second, "all entries handled", func() bool {
		e := scrape(t, url)
		return outcome(e, "ack") == n-1 && outcome(e, "dead_letter") == 1
	})
	if err := cons.Shutdown(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	e := scrape(t, url)
	e.want(t, n, "redstream_published_total", "stream", stream, "result", "ok")
	e.want(t, 0, "redstream_published_total", "stream", stream, "result", "error")
	e.want(t, n-1, "redstream_handled_total", append(sg, "outcome", "ack")...)
	e.want(t, 1, "redstream_handled_total", append(sg, "outcome", "retry")...)
	e.want(t, 1, "redstream_handled_total", append(sg, "outcome", "dead_letter")...)
	e.want(t, 0, "redstream_handlers_in_flight", sg...)
	e.want(t, 0, "redstream_reclaimed_total", sg...)
	e.want(t, 0, "redstream_read_errors_total", sg...)

	h := e.find("redstream_handler_duration_seconds", sg...)
	if h == nil || h.Histogram == nil {
		t.Fatalf("no handler duration histogram; have:\n%s", e.dump("redstream_handler_duration_seconds"))
	}
	if got := h.GetHistogram().GetSampleCount(); got != n+1 {
		t.Errorf("handler duration count = %d, want %d (one per handler call)", got, n+1)
	}
	if s := h.GetHistogram().GetSampleSum(); s <= 0 || s > 5 {
		t.Errorf("handler duration sum = %vs, want a small positive number", s)
	}
	var bounds []float64
	for _, b := range h.GetHistogram().GetBucket() {
		if !math.IsInf(b.GetUpperBound(), 1) {
			bounds = append(bounds, b.GetUpperBound())
		}
	}
	if !slices.Equal(bounds, redstreamprom.DefaultBuckets) || bounds[0] != 0.0005 || bounds[len(bounds)-1] != 30 {
		t.Errorf("bucket bounds %v, want DefaultBuckets, 0.5ms to 30s", bounds)
	}
	if f := e["redstream_published_total"]; f.GetHelp() == "" || f.GetType().String() != "COUNTER" {
		t.Errorf("published_total: help %q type %v", f.GetHelp(), f.GetType())
	}
}

// TestMetricsPublishError checks that a failed publish counts as an error.
func TestMetricsPublishError(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	key := t.Name()
	srv.Do(t, "SET", key, "not a stream")
	m := mustMetrics(t)
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(m))
	if _, err := pub.Publish(ctxT(t, 5*time.Second), key, redstream.Fields("a", "b")); err == nil {
		t.Fatal("publish to a string key succeeded")
	}
	e := scrape(t, serve(t, m))
	e.want(t, 1, "redstream_published_total", "stream", key, "result", "error")
	e.want(t, 0, "redstream_published_total", "stream", key, "result", "ok")
}

func TestMetricsDirect(t *testing.T) {
	m := mustMetrics(t, redstreamprom.Buckets([]float64{0.1, 1}))
	m.Handled("s", "g", redstream.OutcomeAck, 500*time.Millisecond)
	m.Handled("s", "g", redstream.OutcomeAck, 2*time.Second)
	m.Handled("s", "g", redstream.Outcome(42), 250*time.Millisecond) // unknown to this package
	m.InFlight("s", "g", 3)
	m.InFlight("s", "g", -1)
	m.Reclaimed("s", "g", 4)
	m.ReadError("s", "g", errors.New("boom"))
	m.ReadError("s", "g", errors.New("boom"))
	m.Published("s", 5, nil)
	m.Published("t", 2, errors.New("down"))

	want := `
# HELP redstream_handled_total Handler calls by outcome: ack (acknowledged), retry (will be handled again) or dead_letter (moved to the dead-letter stream).
# TYPE redstream_handled_total counter
redstream_handled_total{group="g",outcome="ack",stream="s"} 2
redstream_handled_total{group="g",outcome="dead_letter",stream="s"} 0
redstream_handled_total{group="g",outcome="retry",stream="s"} 0
redstream_handled_total{group="g",outcome="unknown",stream="s"} 1
# HELP redstream_handler_duration_seconds How long handler calls took, whatever their outcome.
# TYPE redstream_handler_duration_seconds histogram
redstream_handler_duration_seconds_bucket{group="g",stream="s",le="0.1"} 0
redstream_handler_duration_seconds_bucket{group="g",stream="s",le="1"} 2
redstream_handler_duration_seconds_bucket{group="g",stream="s",le="+Inf"} 3
redstream_handler_duration_seconds_sum{group="g",stream="s"} 2.75
redstream_handler_duration_seconds_count{group="g",stream="s"} 3
# HELP redstream_handlers_in_flight Handlers running now.
# TYPE redstream_handlers_in_flight gauge
redstream_handlers_in_flight{group="g",stream="s"} 2
# HELP redstream_published_total Entries appended to the stream (result="ok") or that failed to be (result="error").
# TYPE redstream_published_total counter
redstream_published_total{result="error",stream="s"} 0
redstream_published_total{result="error",stream="t"} 2
redstream_published_total{result="ok",stream="s"} 5
redstream_published_total{result="ok",stream="t"} 0
# HELP redstream_read_errors_total Failed reads of the stream by the group's consumers (each is retried).
# TYPE redstream_read_errors_total counter
redstream_read_errors_total{group="g",stream="s"} 2
# HELP redstream_reclaimed_total Pending entries taken over from other consumers of the group (XAUTOCLAIM).
# TYPE redstream_reclaimed_total counter
redstream_reclaimed_total{group="g",stream="s"} 4
`
	if err := testutil.CollectAndCompare(m, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestBucketsInvalid(t *testing.T) {
	for _, tc := range []struct {
		name    string
		buckets []float64
	}{
		{"empty", nil},
		{"decreasing", []float64{1, 0.5}},
		{"repeated", []float64{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := redstreamprom.NewMetrics(redstreamprom.Buckets(tc.buckets)); !errors.Is(err, redstream.ErrInvalidOption) {
				t.Fatalf("NewMetrics = %v, want ErrInvalidOption", err)
			}
		})
	}
}

// TestMetricsNoAllocs guards the hot path: once a stream and group are
// known, reporting allocates nothing.
func TestMetricsNoAllocs(t *testing.T) {
	m := mustMetrics(t)
	err := errors.New("x")
	m.Handled("s", "g", redstream.OutcomeAck, time.Millisecond)
	m.Published("s", 1, nil)
	for name, f := range map[string]func(){
		"Handled":   func() { m.Handled("s", "g", redstream.OutcomeRetry, time.Millisecond) },
		"InFlight":  func() { m.InFlight("s", "g", 1) },
		"Reclaimed": func() { m.Reclaimed("s", "g", 1) },
		"ReadError": func() { m.ReadError("s", "g", err) },
		"Published": func() { m.Published("s", 1, nil) },
	} {
		if a := testing.AllocsPerRun(1000, f); a != 0 {
			t.Errorf("%s: %v allocs per call, want 0", name, a)
		}
	}
}

func TestMetricsRegistersTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(mustMetrics(t))
	if err := reg.Register(mustMetrics(t)); err == nil {
		t.Fatal("a second Metrics registered in the same registry")
	}
}

var sink float64

func BenchmarkHandled(b *testing.B) {
	m := mustMetrics(b)
	// A realistic cache: a few streams and groups already known.
	for i := range 8 {
		m.Handled(fmt.Sprint("stream-", i), "workers", redstream.OutcomeAck, time.Millisecond)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.Handled("stream-3", "workers", redstream.OutcomeAck, 3*time.Millisecond)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.Handled("stream-3", "workers", redstream.OutcomeAck, 3*time.Millisecond)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	// The handler's whole reporting: in flight up, handled, in flight down.
	b.Run("parallel-with-inflight", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.InFlight("stream-3", "workers", 1)
				m.Handled("stream-3", "workers", redstream.OutcomeAck, 3*time.Millisecond)
				m.InFlight("stream-3", "workers", -1)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkVecBaseline measures what Handled would cost resolving the
// children with WithLabelValues on every call, for comparison.
func BenchmarkVecBaseline(b *testing.B) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"stream", "group", "outcome"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: redstreamprom.DefaultBuckets}, []string{"stream", "group"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.WithLabelValues("stream-3", "workers", "ack").Inc()
			h.WithLabelValues("stream-3", "workers").Observe(0.003)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func mustMetrics(t testing.TB, opts ...redstreamprom.MetricsOption) *redstreamprom.Metrics {
	t.Helper()
	m, err := redstreamprom.NewMetrics(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
