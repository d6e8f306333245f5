package redstream

import (
	"context"
	"time"
)

// Hooks are what Publishers and Consumers report their work to: a
// Metrics, given with WithPublishMetrics or WithMetrics (Consumers and
// TopicConsumers alike), and, if the same value implements them, the optional
// PublishTracer and HandleTracer, which wrap each publish and each
// handler call so that a tracer can carry a trace from one to the other
// in the entry's headers. redstreamprom implements Metrics;
// redstreamotel implements all three; JoinHooks combines several. With
// no hooks (the default) nothing is called and nothing is allocated for
// them.

// PublishCall describes one call of a Publisher's publish methods to a
// PublishTracer.
type PublishCall struct {
	// Entries are the entries about to be written, in the call's order,
	// with their streams (a topic event's partition stream). They are
	// the publisher's own copies: a tracer may replace an entry's Headers
	// with a new slice, which is written with the entry, but must not
	// write into the slices it was given, which are the caller's.
	Entries []Entry
	// Topic is the topic's name for the PublishTopic methods, else "";
	// Partitions then holds each entry's partition.
	Topic      string
	Partitions []int
	// Scheduled reports entries that wait in their stream's schedule
	// (PublishAt and its kin) before they are appended; their IDs are
	// scheduled IDs.
	Scheduled bool
}

// PublishTracer is an optional interface of a Publisher's hooks: it is
// called once for every publish call, before anything is sent, from the
// calling goroutine, with the caller's context. It returns the function
// the Publisher calls once the call is done, with each entry's ID ("" for
// one that failed) and the call's error (a *BatchError when only some
// failed); it may return nil. It must be safe for concurrent use.
type PublishTracer interface {
	TracePublish(ctx context.Context, call *PublishCall) func(ids []string, err error)
}

// HandleCall describes one handler call to a HandleTracer.
type HandleCall struct {
	// Group is the consumer group.
	Group string
	// Topic is the topic's name for a TopicConsumer, else ""; Partition
	// is then the entries' partition.
	Topic     string
	Partition int
	// Messages are the entries handed to the handler: one, or a batch's,
	// all of one stream.
	Messages []*Message
	// Batch reports a BatchHandler's call.
	Batch bool
}

// HandleTracer is an optional interface of a consumer's hooks: it is
// called before every handler call, with the context the handler would
// get, and returns the context to give it instead (carrying a span, say)
// and a HandleSpan to report the call's outcome to (nil for none). It is
// also called for an entry a Consumer dead-letters without calling the
// handler (delivered more often than MaxDeliveries, by consumers that
// died), so that the trace shows where it ended. It must be safe for
// concurrent use.
type HandleTracer interface {
	TraceHandle(ctx context.Context, call *HandleCall) (context.Context, HandleSpan)
}

// HandleSpan receives what became of a handler call's entries.
type HandleSpan interface {
	// Outcome reports what became of the call's Messages[i]: the outcome
	// and the handler's error for it (nil for OutcomeAck). A retry's
	// error may carry the handler's chosen delay (RetryAfter). It is
	// called once for each entry, before End, from one goroutine.
	Outcome(i int, outcome Outcome, err error)
	// End ends the call's span.
	End()
}

// JoinHooks returns hooks that pass everything to each of hs in turn:
// the Metrics calls to all, and publish and handler calls to those that
// implement PublishTracer or HandleTracer, each tracer's context handed
// to the next. Use it to report to Prometheus and trace with
// OpenTelemetry at once. Nil hooks are left out.
func JoinHooks(hs ...Metrics) Metrics {
	var j joinedHooks
	for _, h := range hs {
		if h == nil {
			continue
		}
		j.all = append(j.all, h)
		p, t := tracersOf(h) // a joined value without tracers has none
		if p != nil {
			j.pubs = append(j.pubs, p)
		}
		if t != nil {
			j.handles = append(j.handles, t)
		}
	}
	return &j
}

type joinedHooks struct {
	all     []Metrics
	pubs    []PublishTracer
	handles []HandleTracer
}

func (j *joinedHooks) Published(stream string, n int, err error) {
	for _, h := range j.all {
		h.Published(stream, n, err)
	}
}

func (j *joinedHooks) Handled(stream, group string, outcome Outcome, took time.Duration) {
	for _, h := range j.all {
		h.Handled(stream, group, outcome, took)
	}
}

func (j *joinedHooks) InFlight(stream, group string, delta int) {
	for _, h := range j.all {
		h.InFlight(stream, group, delta)
	}
}

func (j *joinedHooks) Reclaimed(stream, group string, n int) {
	for _, h := range j.all {
		h.Reclaimed(stream, group, n)
	}
}

func (j *joinedHooks) ReadError(stream, group string, err error) {
	for _, h := range j.all {
		h.ReadError(stream, group, err)
	}
}

// publishTracer returns j's publish tracers as one, or nil.
func (j *joinedHooks) publishTracer() PublishTracer {
	if len(j.pubs) == 0 {
		return nil
	}
	return j
}

// handleTracer returns j's handle tracers as one, or nil.
func (j *joinedHooks) handleTracer() HandleTracer {
	if len(j.handles) == 0 {
		return nil
	}
	return j
}

func (j *joinedHooks) TracePublish(ctx context.Context, call *PublishCall) func([]string, error) {
	var dones []func([]string, error)
	for _, t := range j.pubs {
		if d := t.TracePublish(ctx, call); d != nil {
			dones = append(dones, d)
		}
	}
	if len(dones) == 0 {
		return nil
	}
	return func(ids []string, err error) {
		for i := len(dones) - 1; i >= 0; i-- {
			dones[i](ids, err)
		}
	}
}

func (j *joinedHooks) TraceHandle(ctx context.Context, call *HandleCall) (context.Context, HandleSpan) {
	var spans joinedSpans
	for _, t := range j.handles {
		var s HandleSpan
		ctx, s = t.TraceHandle(ctx, call)
		if s != nil {
			spans = append(spans, s)
		}
	}
	if len(spans) == 0 {
		return ctx, nil
	}
	return ctx, spans
}

type joinedSpans []HandleSpan

func (s joinedSpans) Outcome(i int, outcome Outcome, err error) {
	for _, sp := range s {
		sp.Outcome(i, outcome, err)
	}
}

func (s joinedSpans) End() {
	for i := len(s) - 1; i >= 0; i-- {
		s[i].End()
	}
}

// tracersOf returns the optional tracers of hooks m, or nil.
func tracersOf(m Metrics) (PublishTracer, HandleTracer) {
	if j, ok := m.(*joinedHooks); ok {
		return j.publishTracer(), j.handleTracer()
	}
	p, _ := m.(PublishTracer)
	h, _ := m.(HandleTracer)
	return p, h
}
