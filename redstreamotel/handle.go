package redstreamotel

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
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
// creation context, and the handler's context also carries the message's
// baggage. For a BatchHandler's call the span starts a new trace, with
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
	attrs := make([]attribute.KeyValue, 0, 9)
	attrs = append(attrs,
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName("process"),
		semconv.MessagingOperationTypeProcess,
		semconv.MessagingDestinationName(dest))
	if part >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(part)))
	}
	if call.Group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(call.Group))
	}
	single := !call.Batch && len(msgs) == 1
	links := make([]trace.Link, 0, len(msgs)+1)
	pctx := ctx
	parented := false
	if single {
		m := msgs[0]
		attrs = append(attrs, semconv.MessagingMessageID(m.ID), deliveriesKey.Int(m.Deliveries))
		mctx, created := h.extract(m.Headers)
		if bag := baggage.FromContext(mctx); bag.Len() > 0 {
			pctx = baggage.ContextWithBaggage(pctx, bag)
		}
		if created.IsValid() {
			links = append(links, trace.Link{SpanContext: created})
			if h.parent {
				pctx = trace.ContextWithRemoteSpanContext(pctx, created)
				parented = true
			}
		}
	} else {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(msgs)))
		for _, m := range msgs {
			if _, created := h.extract(m.Headers); created.IsValid() {
				links = append(links, trace.Link{SpanContext: created, Attributes: []attribute.KeyValue{
					semconv.MessagingMessageID(m.ID), deliveriesKey.Int(m.Deliveries),
				}})
			}
		}
	}
	if ambient := trace.SpanContextFromContext(ctx); ambient.IsValid() {
		links = append(links, trace.Link{SpanContext: ambient})
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attrs...),
		trace.WithLinks(links...),
	}
	if !parented {
		opts = append(opts, trace.WithNewRoot())
	}
	sctx, span := h.tracer.Start(pctx, spanName("process", dest), opts...)
	key := seriesKey{op: "process", dest: dest, group: call.Group, part: part}
	h.consumed.Add(ctx, int64(len(msgs)), h.measure(key))
	return sctx, &handleSpan{h: h, ctx: ctx, span: span, msgs: msgs, single: single, key: key, start: time.Now()}
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
	start  time.Time

	took     time.Duration // until the first outcome: the handler's time
	timed    bool
	failed   int
	firstErr error
}

// Outcome records what became of message i: a retry or dead letter adds
// an event ("redstream.retry", with the delay the handler chose with
// RetryAfter, or "redstream.dead_letter") and records the handler's
// error; a single message's span also gets redstream.outcome.
func (s *handleSpan) Outcome(i int, outcome redstream.Outcome, err error) {
	if !s.timed {
		s.took, s.timed = time.Since(s.start), true
	}
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

// End sets the span's status, ends it and records the processing time.
func (s *handleSpan) End() {
	if !s.timed {
		s.took = time.Since(s.start)
	}
	key := s.key
	if s.failed > 0 {
		key.errType = errorType(s.firstErr)
		if key.errType == "" {
			key.errType = semconv.ErrorTypeOther.Value.AsString()
		}
		s.span.SetAttributes(semconv.ErrorTypeKey.String(key.errType))
		desc := "handler failed"
		if s.firstErr != nil {
			desc = s.firstErr.Error()
		}
		if !s.single {
			desc = fmt.Sprintf("%d of %d messages failed, first: %s", s.failed, len(s.msgs), desc)
		}
		s.span.SetStatus(codes.Error, desc)
	}
	s.span.End()
	s.h.duration.Record(s.ctx, s.took.Seconds(), s.h.measure(key))
}
