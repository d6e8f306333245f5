package redstreamotel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// TraceHandle starts the CONSUMER span "process <destination>" of a
// handler call and returns the handler's context, which carries it. The
// destination is the topic's name for a TopicConsumer, else the stream's.
//
// For one message (a Handler's call) the span's parent is the message's
// creation context, read from its headers, so the handler continues the
// producer's trace; with LinkOnly, or when the message carries no
// context, the span starts a new trace. Either way it links to the
// creation context, and the handler's context also carries what else the
// propagator reads from the headers, such as the message's baggage. For
// a BatchHandler's call the span starts a new trace, with
// messaging.batch.message_count, and links to each message's creation
// context with that message's ID and delivery count on the link. The
// consumer's own context never becomes the parent (it spans the
// consumer's whole run); if it carries a span, the process span links to
// it.
func (h *Hooks) TraceHandle(ctx context.Context, call *redstream.HandleCall) (context.Context, redstream.HandleSpan) {
	msgs := call.Messages
	if len(msgs) == 0 {
		return ctx, nil
	}
	dest, part := call.Topic, call.Partition
	if dest == "" {
		dest, part = msgs[0].Stream, -1
	}
	ps := h.processStart(processKey{dest: dest, group: call.Group, part: part})
	start := time.Now()
	single := !call.Batch && len(msgs) == 1
	var sctx context.Context
	var span trace.Span
	if single {
		sctx, span = h.startOne(ctx, ps, msgs[0])
	} else {
		sctx, span = h.startBatch(ctx, ps, msgs)
	}
	key := seriesKey{op: "process", dest: dest, group: call.Group, part: part}
	h.count(ctx, h.consumed, int64(len(msgs)), key)
	return sctx, &handleSpan{h: h, ctx: ctx, span: span, msgs: msgs, single: single, key: key, start: start}
}

// startOne starts the process span of a Handler's call of m.
func (h *Hooks) startOne(ctx context.Context, ps *processStart, m *redstream.Message) (context.Context, trace.Span) {
	ambient := trace.SpanContextFromContext(ctx)
	pctx := ctx
	var created trace.SpanContext
	if len(m.Headers) > 0 {
		// Straight into the handler's context: the message's baggage, and
		// its creation context as the remote span. Without one, the span
		// there is still the consumer's own, which is no creation context.
		pctx = h.prop.Extract(ctx, (*carrier)(&m.Headers))
		if sc := trace.SpanContextFromContext(pctx); sc.IsValid() && !sc.Equal(ambient) {
			created = sc
		}
	}
	var sctx context.Context
	var span trace.Span
	if created.IsValid() && h.parent && !ambient.IsValid() {
		// The span is the creation context's child, as a sampler sees
		// at the start; the link the conventions ask for as well costs
		// only a span that is recorded.
		sctx, span = h.tracer.Start(pctx, ps.name, ps.child...)
		if span.IsRecording() {
			span.AddLink(trace.Link{SpanContext: created})
		}
	} else {
		links := make([]trace.Link, 0, 2)
		opts := ps.root
		if created.IsValid() {
			links = append(links, trace.Link{SpanContext: created})
			if h.parent {
				opts = ps.child
			}
		}
		if ambient.IsValid() {
			links = append(links, trace.Link{SpanContext: ambient})
		}
		if len(links) > 0 {
			opts = append(opts[:len(opts):len(opts)], trace.WithLinks(links...))
		}
		sctx, span = h.tracer.Start(pctx, ps.name, opts...)
	}
	if span.IsRecording() {
		span.SetAttributes(semconv.MessagingMessageID(m.ID), deliveriesKey.Int(m.Deliveries))
	}
	return sctx, span
}

// startBatch starts the process span of a BatchHandler's call of msgs, a
// new trace that links to each message's creation context.
func (h *Hooks) startBatch(ctx context.Context, ps *processStart, msgs []*redstream.Message) (context.Context, trace.Span) {
	links := make([]trace.Link, 0, len(msgs)+1)
	for _, m := range msgs {
		if _, created := h.extract(&m.Headers); created.IsValid() {
			links = append(links, trace.Link{SpanContext: created, Attributes: []attribute.KeyValue{
				semconv.MessagingMessageID(m.ID), deliveriesKey.Int(m.Deliveries),
			}})
		}
	}
	if ambient := trace.SpanContextFromContext(ctx); ambient.IsValid() {
		links = append(links, trace.Link{SpanContext: ambient})
	}
	opts := append(ps.root[:len(ps.root):len(ps.root)],
		trace.WithAttributes(semconv.MessagingBatchMessageCount(len(msgs))),
		trace.WithLinks(links...))
	return h.tracer.Start(ctx, ps.name, opts...)
}

// processKey names the start of a process span.
type processKey struct {
	dest, group string
	part        int
}

// processStart is a process span's name and start options, as the child
// of the creation context or as the root of a new trace.
type processStart struct {
	name        string
	child, root []trace.SpanStartOption
}

// processStart returns the name and start options of the process spans
// of k, made once: a span that is not sampled then costs no attribute
// building. The attributes are given at the start, where samplers see
// them.
func (h *Hooks) processStart(k processKey) *processStart {
	if v, ok := h.processes.load(k); ok {
		return v
	}
	attrs := []attribute.KeyValue{
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(k.dest),
	}
	if k.part >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(k.part)))
	}
	if k.group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(k.group))
	}
	child := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
	root := append(child[:len(child):len(child)], trace.WithNewRoot())
	return h.processes.store(k, &processStart{name: spanName("process", k.dest), child: child, root: root})
}

// handleSpan is the span of one handler call, told the outcome of each of
// its messages, from one goroutine.
type handleSpan struct {
	h      *Hooks
	ctx    context.Context
	span   trace.Span
	msgs   []*redstream.Message
	single bool
	key    seriesKey
	start  time.Time // taken as the span started

	failed   int
	firstErr error
}

// Outcome records what became of message i: a retry or dead letter adds
// an event ("redstream.retry", with the delay the handler chose with
// RetryAfter, or "redstream.dead_letter") and records the handler's
// error; a single message's span also gets redstream.outcome.
func (s *handleSpan) Outcome(i int, outcome redstream.Outcome, err error) {
	if outcome != redstream.OutcomeAck {
		s.failed++
		if s.firstErr == nil {
			s.firstErr = err
		}
	}
	if !s.span.IsRecording() || i < 0 || i >= len(s.msgs) {
		return
	}
	if s.single {
		s.span.SetAttributes(outcomeKey.String(outcome.String()))
	}
	if outcome == redstream.OutcomeAck {
		return
	}
	m := s.msgs[i]
	ev := []attribute.KeyValue{semconv.MessagingMessageID(m.ID), deliveriesKey.Int(m.Deliveries)}
	var ra *redstream.RetryAfterError
	if outcome == redstream.OutcomeRetry && errors.As(err, &ra) {
		delay := retryDelayKey.Float64(ra.Delay.Seconds())
		ev = append(ev, delay)
		if s.single {
			s.span.SetAttributes(delay)
		}
	}
	if err != nil {
		s.span.RecordError(err, trace.WithAttributes(semconv.MessagingMessageID(m.ID)))
	}
	s.span.AddEvent("redstream."+outcome.String(), trace.WithAttributes(ev...))
}

// End sets the span's status, ends it and records the processing time:
// the span's duration, from TraceHandle to End, which covers the
// handler and what the consumer did with the outcome before End (a
// Consumer writes a dead letter, or queues the acknowledgement, first).
func (s *handleSpan) End() {
	key := s.key
	if s.failed > 0 {
		key.errType = errorType(s.firstErr)
		if key.errType == "" {
			key.errType = semconv.ErrorTypeOther.Value.AsString()
		}
		if s.span.IsRecording() { // else the description would be built for nothing
			s.span.SetAttributes(semconv.ErrorTypeKey.String(key.errType))
			s.span.SetStatus(codes.Error, s.failure())
		}
	}
	s.span.End()
	s.h.record(s.ctx, s.h.duration, lasted(s.span, s.start).Seconds(), key)
}

// failure describes the call's failure for the span's status.
func (s *handleSpan) failure() string {
	desc := "handler failed"
	if s.firstErr != nil {
		desc = s.firstErr.Error()
	}
	if !s.single {
		desc = fmt.Sprintf("%d of %d messages failed, first: %s", s.failed, len(s.msgs), desc)
	}
	return desc
}
