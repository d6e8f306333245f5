package redstreamprom

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redstream-go/redstream"
)

// DefaultBuckets are the upper bounds, in seconds, of the
// redstream_handler_duration_seconds histogram: from 0.5ms to 30s.
var DefaultBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// MetricsOption configures NewMetrics.
type MetricsOption func(*metricsConfig)

type metricsConfig struct {
	buckets []float64
}

// Buckets sets the upper bounds, in seconds, of the handler duration
// histogram (default DefaultBuckets). They must be finite and strictly
// increasing; NewMetrics panics otherwise, as prometheus.NewHistogram does,
// since that is a mistake in the program rather than a runtime condition.
func Buckets(upperBounds []float64) MetricsOption {
	b := append([]float64(nil), upperBounds...)
	return func(c *metricsConfig) { c.buckets = b }
}

// Metrics implements redstream.Metrics with Prometheus counters, a gauge
// and a histogram, and is a prometheus.Collector of them: register it,
// then pass it to redstream.WithMetrics and redstream.WithPublishMetrics.
// One Metrics may serve any number of Publishers and Consumers.
//
// It is safe for concurrent use. The redstream.Metrics methods are on the
// message hot path: after the first call for a stream (and group) they
// allocate nothing and take no lock. A series, once seen, is exported
// until the process ends.
type Metrics struct {
	published  *prometheus.CounterVec
	handled    *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   *prometheus.GaugeVec
	reclaimed  *prometheus.CounterVec
	readErrors *prometheus.CounterVec

	streams cache[string, streamSeries]
	groups  cache[groupKey, groupSeries]
}

var _ redstream.Metrics = (*Metrics)(nil)
var _ prometheus.Collector = (*Metrics)(nil)

// groupKey names the series of one consumer group of one stream.
type groupKey struct{ stream, group string }

// streamSeries are the children of one stream, resolved once.
type streamSeries struct {
	ok, failed prometheus.Counter
}

// numOutcomes is how many redstream.Outcome values the children cache.
const numOutcomes = int(redstream.OutcomeDeadLetter) + 1

// groupSeries are the children of one group, resolved once.
type groupSeries struct {
	handled    [numOutcomes]prometheus.Counter
	duration   prometheus.Observer
	inFlight   prometheus.Gauge
	reclaimed  prometheus.Counter
	readErrors prometheus.Counter
}

// NewMetrics returns Metrics with no series yet: each appears when a
// stream or group first reports something.
func NewMetrics(opts ...MetricsOption) (*Metrics, error) {
	cfg := metricsConfig{buckets: slices.Clone(DefaultBuckets)}
	for _, o := range opts {
		o(&cfg)
	}
	if err := checkBuckets(cfg.buckets); err != nil {
		return nil, fmt.Errorf("%w: %w", redstream.ErrInvalidOption, err)
	}
	sg := []string{"stream", "group"}
	return &Metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redstream_published_total",
			Help: "Entries appended to the stream (result=\"ok\") or that failed to be (result=\"error\").",
		}, []string{"stream", "result"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redstream_handled_total",
			Help: "Handler calls by outcome: ack (acknowledged), retry (will be handled again) or dead_letter (moved to the dead-letter stream).",
		}, []string{"stream", "group", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "redstream_handler_duration_seconds",
			Help:    "How long handler calls took, whatever their outcome.",
			Buckets: cfg.buckets,
		}, sg),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "redstream_handlers_in_flight",
			Help: "Handlers running now.",
		}, sg),
		reclaimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redstream_reclaimed_total",
			Help: "Pending entries taken over from other consumers of the group (XAUTOCLAIM).",
		}, sg),
		readErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "redstream_read_errors_total",
			Help: "Failed reads of the stream by the group's consumers (each is retried).",
		}, sg),
	}, nil
}

func checkBuckets(b []float64) error {
	if len(b) == 0 {
		return fmt.Errorf("redstreamprom: Buckets needs at least one upper bound")
	}
	for i, v := range b {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("redstreamprom: Buckets must be finite, got %v", v)
		}
		if i > 0 && v <= b[i-1] {
			return fmt.Errorf("redstreamprom: Buckets must be strictly increasing, got %v after %v", v, b[i-1])
		}
	}
	return nil
}

// Describe sends the descriptions of all series to ch (prometheus.Collector).
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	m.published.Describe(ch)
	m.handled.Describe(ch)
	m.duration.Describe(ch)
	m.inFlight.Describe(ch)
	m.reclaimed.Describe(ch)
	m.readErrors.Describe(ch)
}

// Collect sends the current value of every series to ch
// (prometheus.Collector).
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.published.Collect(ch)
	m.handled.Collect(ch)
	m.duration.Collect(ch)
	m.inFlight.Collect(ch)
	m.reclaimed.Collect(ch)
	m.readErrors.Collect(ch)
}

// Published counts n entries under redstream_published_total, with
// result="error" when err is not nil.
func (m *Metrics) Published(stream string, n int, err error) {
	s := m.streams.get(stream, m.newStream)
	if err != nil {
		s.failed.Add(float64(n))
		return
	}
	s.ok.Add(float64(n))
}

// Handled counts one handler call under redstream_handled_total and
// observes its duration in redstream_handler_duration_seconds.
func (m *Metrics) Handled(stream, group string, outcome redstream.Outcome, took time.Duration) {
	g := m.groups.get(groupKey{stream, group}, m.newGroup)
	if outcome >= 0 && int(outcome) < numOutcomes {
		g.handled[outcome].Inc()
	} else { // an outcome newer than this package: still counted, off the fast path
		m.handled.WithLabelValues(stream, group, outcome.String()).Inc()
	}
	g.duration.Observe(took.Seconds())
}

// InFlight adds delta to redstream_handlers_in_flight.
func (m *Metrics) InFlight(stream, group string, delta int) {
	m.groups.get(groupKey{stream, group}, m.newGroup).inFlight.Add(float64(delta))
}

// Reclaimed adds n to redstream_reclaimed_total.
func (m *Metrics) Reclaimed(stream, group string, n int) {
	m.groups.get(groupKey{stream, group}, m.newGroup).reclaimed.Add(float64(n))
}

// ReadError counts one failed read under redstream_read_errors_total. The
// error itself is not a label: its text would make series without bound.
func (m *Metrics) ReadError(stream, group string, _ error) {
	m.groups.get(groupKey{stream, group}, m.newGroup).readErrors.Inc()
}

func (m *Metrics) newStream(stream string) *streamSeries {
	return &streamSeries{
		ok:     m.published.WithLabelValues(stream, "ok"),
		failed: m.published.WithLabelValues(stream, "error"),
	}
}

func (m *Metrics) newGroup(k groupKey) *groupSeries {
	g := &groupSeries{
		duration:   m.duration.WithLabelValues(k.stream, k.group),
		inFlight:   m.inFlight.WithLabelValues(k.stream, k.group),
		reclaimed:  m.reclaimed.WithLabelValues(k.stream, k.group),
		readErrors: m.readErrors.WithLabelValues(k.stream, k.group),
	}
	for o := range g.handled {
		g.handled[o] = m.handled.WithLabelValues(k.stream, k.group, redstream.Outcome(o).String())
	}
	return g
}

// cache maps label values to their resolved children. Reads load an
// immutable map through an atomic pointer: no lock, no allocation, no
// contention between the goroutines that report. Adding a key copies the
// map under a mutex; that happens once per stream or group.
type cache[K comparable, V any] struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[K]*V]
}

func (c *cache[K, V]) get(k K, create func(K) *V) *V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	return c.add(k, create)
}

func (c *cache[K, V]) add(k K, create func(K) *V) *V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var n map[K]*V
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
		n = maps.Clone(*old)
	} else {
		n = make(map[K]*V, 1)
	}
	v := create(k)
	n[k] = v
	c.m.Store(&n)
	return v
}
