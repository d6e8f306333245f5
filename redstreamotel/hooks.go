package redstreamotel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/messagingconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// ScopeName is the instrumentation scope of the tracer and meter that
// Hooks use.
const ScopeName = "github.com/redstream-go/redstream/redstreamotel"

// System is the value of the messaging.system attribute on every span and
// measurement. Redis has no well-known value in the conventions, so the
// name of the server is used, as instrumentations of other systems do.
const System = "redis"

// Attribute keys of redstream's own, beside the conventions' messaging.*
// keys.
const (
	deliveriesKey = attribute.Key("redstream.message.deliveries")
	outcomeKey    = attribute.Key("redstream.outcome")
	retryDelayKey = attribute.Key("redstream.retry.delay")
	scheduledKey  = attribute.Key("redstream.scheduled")
	scheduleIDKey = attribute.Key("redstream.schedule.id")
)

// durationBuckets are the boundaries, in seconds, that the conventions
// recommend for messaging durations.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// Hooks trace redstream's publishes and handler calls with OpenTelemetry
// and measure them with the conventions' messaging metrics. Pass one to
// redstream.WithPublishMetrics and redstream.WithMetrics (which serves
// Consumers and TopicConsumers alike); combine it with other hooks with
// redstream.JoinHooks. It implements redstream.Metrics,
// redstream.PublishTracer and redstream.HandleTracer. One Hooks may serve
// any number of Publishers and consumers, and is safe for concurrent use.
type Hooks struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	nprop  int  // how many fields prop injects, at most
	parent bool // process spans continue the producer's trace

	sent       metric.Int64Counter
	consumed   metric.Int64Counter
	duration   metric.Float64Histogram // messaging.process.duration
	opDuration metric.Float64Histogram // messaging.client.operation.duration

	// Made once and kept, so that a span or a measurement costs no
	// attribute building: each series' measurement options, and each
	// destination's span names and start options.
	series    memo[seriesKey, *series]
	produces  memo[produceKey, *spanStart]
	processes memo[processKey, *processStart]
}

var (
	_ redstream.Metrics       = (*Hooks)(nil)
	_ redstream.PublishTracer = (*Hooks)(nil)
	_ redstream.HandleTracer  = (*Hooks)(nil)
)

// Option configures New.
type Option func(*config) error

type config struct {
	tp     trace.TracerProvider
	mp     metric.MeterProvider
	prop   propagation.TextMapPropagator
	parent bool
}

// ErrInvalidOption reports an option given a nil value.
var ErrInvalidOption = errors.New("redstreamotel: invalid option")

// WithTracerProvider sets where spans go. The default is the global
// provider, otel.GetTracerProvider(), which forwards to the one set with
// otel.SetTracerProvider even after New.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) error {
		if tp == nil {
			return fmt.Errorf("%w: nil TracerProvider", ErrInvalidOption)
		}
		c.tp = tp
		return nil
	}
}

// WithMeterProvider sets where measurements go. The default is the global
// provider, otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) error {
		if mp == nil {
			return fmt.Errorf("%w: nil MeterProvider", ErrInvalidOption)
		}
		c.mp = mp
		return nil
	}
}

// WithPropagator sets how trace context is written into an entry's
// headers and read back from a message's. The default is the global
// propagator as New finds it, otel.GetTextMapPropagator(); if that is
// still the no-op one (nothing was set), W3C Trace Context and Baggage,
// so that traces travel without any setup.
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) error {
		if p == nil {
			return fmt.Errorf("%w: nil TextMapPropagator", ErrInvalidOption)
		}
		c.prop = p
		return nil
	}
}

// LinkOnly makes each process span of a single message the root of a new
// trace that links to the message's creation context, instead of its
// child. The default continues the producer's trace: the process span's
// parent is the span that published the message. Choose LinkOnly when a
// message's handling should not lengthen the producer's trace, say when
// one publish fans out to many consumer groups or handling happens hours
// later. Batch handlers always link, as a span has one parent only.
func LinkOnly() Option {
	return func(c *config) error {
		c.parent = false
		return nil
	}
}

// New returns Hooks that trace with the TracerProvider, measure with the
// MeterProvider and carry context with the propagator that the options
// choose (the global ones by default). It fails on a nil option value or
// if the meter refuses an instrument.
func New(opts ...Option) (*Hooks, error) {
	c := config{parent: true}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = otel.GetTextMapPropagator()
		if len(c.prop.Fields()) == 0 {
			c.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
		}
	}
	h := &Hooks{
		tracer: c.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		prop:   c.prop,
		nprop:  len(c.prop.Fields()),
		parent: c.parent,
	}
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	sent, err := messagingconv.NewClientSentMessages(meter)
	if err != nil {
		return nil, fmt.Errorf("redstreamotel: %w", err)
	}
	consumed, err := messagingconv.NewClientConsumedMessages(meter)
	if err != nil {
		return nil, fmt.Errorf("redstreamotel: %w", err)
	}
	duration, err := messagingconv.NewProcessDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("redstreamotel: %w", err)
	}
	opDuration, err := messagingconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		return nil, fmt.Errorf("redstreamotel: %w", err)
	}
	h.sent, h.consumed, h.duration, h.opDuration = sent.Inst(), consumed.Inst(), duration.Inst(), opDuration.Inst()
	return h, nil
}

// Published does nothing: messages sent are counted when a publish call
// ends (TracePublish), which knows the topic, the partition and the
// scheduled publishes too.
func (h *Hooks) Published(string, int, error) {}

// Handled does nothing: messages consumed and processing time are
// measured around each handler call (TraceHandle), one measurement per
// call, batch or not, as the conventions count them.
func (h *Hooks) Handled(string, string, redstream.Outcome, time.Duration) {}

// InFlight does nothing.
func (h *Hooks) InFlight(string, string, int) {}

// Reclaimed does nothing.
func (h *Hooks) Reclaimed(string, string, int) {}

// ReadError does nothing.
func (h *Hooks) ReadError(string, string, error) {}

// seriesKey names one set of measurement attributes.
type seriesKey struct {
	op, dest, group, errType string
	opType                   string // messaging.operation.type; "": none
	part                     int    // -1: none
}

// series holds the options of one series' measurements, so that a
// measurement allocates nothing: the variadic slice of an Add or a
// Record call through an interface would escape, one allocation a call.
type series struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// count adds n to counter c's series k, if anything reads c.
func (h *Hooks) count(ctx context.Context, c metric.Int64Counter, n int64, k seriesKey) {
	if c.Enabled(ctx) {
		c.Add(ctx, n, h.measure(k).add...)
	}
}

// record records seconds in histogram r's series k, if anything reads r.
func (h *Hooks) record(ctx context.Context, r metric.Float64Histogram, seconds float64, k seriesKey) {
	if r.Enabled(ctx) {
		r.Record(ctx, seconds, h.measure(k).rec...)
	}
}

// measure returns the options of series k, made once.
func (h *Hooks) measure(k seriesKey) *series {
	if v, ok := h.series.load(k); ok {
		return v
	}
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName(k.op),
	}
	if k.opType != "" {
		attrs = append(attrs, semconv.MessagingOperationTypeKey.String(k.opType))
	}
	if k.dest != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(k.dest))
	}
	if k.part >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(k.part)))
	}
	if k.group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(k.group))
	}
	if k.errType != "" {
		attrs = append(attrs, semconv.ErrorTypeKey.String(k.errType))
	}
	o := metric.WithAttributeSet(attribute.NewSet(attrs...))
	return h.series.store(k, &series{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}})
}

// maxMemo bounds each memo of Hooks: past it, what is not kept yet is
// made afresh for each use instead, so that a program that publishes to
// ever new streams does not grow without end.
const maxMemo = 4096

// memo keeps values made once per key, for concurrent use.
type memo[K comparable, V any] struct {
	m sync.Map
	n atomic.Int64
}

// load returns the value kept for k, if any.
func (c *memo[K, V]) load(k K) (V, bool) {
	v, ok := c.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// store keeps v for k, unless the memo is full or another goroutine kept
// one first, and returns the value to use: the one kept, else v.
func (c *memo[K, V]) store(k K, v V) V {
	if c.n.Load() >= maxMemo {
		return v
	}
	got, loaded := c.m.LoadOrStore(k, v)
	if !loaded {
		c.n.Add(1)
	}
	return got.(V)
}

// spanTimes is what a span of the SDK (a sdktrace.ReadOnlySpan) tells
// of its times.
type spanTimes interface {
	StartTime() time.Time
	EndTime() time.Time
}

// lasted returns how long span, ended, lasted: by its own times when it
// tells them, so that a duration measured alongside it equals its
// duration exactly, as the conventions ask; else since start, which the
// caller took when it started the span.
func lasted(span trace.Span, start time.Time) time.Duration {
	if t, ok := span.(spanTimes); ok {
		if end := t.EndTime(); !end.IsZero() {
			return end.Sub(t.StartTime())
		}
	}
	return time.Since(start)
}

// errorType classifies a failure for the error.type attribute: a short,
// fixed word for the failures redstream names, "_OTHER" for the rest, ""
// for nil.
func errorType(err error) string {
	if err == nil {
		return "" // before errors.As, whose target escapes: no allocation
	}
	return failureType(err)
}

// failureType is errorType of a non-nil err.
func failureType(err error) string {
	var pe *redstream.PanicError
	switch {
	case errors.As(err, &pe):
		return "panic"
	case errors.Is(err, redstream.ErrPermanent):
		return "permanent"
	case errors.Is(err, redstream.ErrDecode):
		return "decode"
	case errors.Is(err, redstream.ErrUnreachable):
		return "unreachable"
	case errors.Is(err, redstream.ErrNotStream):
		return "not_stream"
	case errors.Is(err, redstream.ErrNoFields), errors.Is(err, redstream.ErrInvalidOption):
		return "invalid"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return semconv.ErrorTypeOther.Value.AsString()
}
