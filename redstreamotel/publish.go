package redstreamotel

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// TracePublish starts the spans of a publish call and writes the creation
// context of each entry into its headers. A call of one entry gets one
// PRODUCER span "send <destination>", whose context the entry carries. A
// call of several gets a PRODUCER span "create <destination>" for each
// entry, whose context that entry carries, and one CLIENT span "send
// <destination>" (just "send" when the entries go to different
// destinations) with messaging.batch.message_count that links to them.
// An entry that already carries a trace context (a "traceparent" header
// set by the caller) keeps it, gets no span of its own, and the send span
// links to it. The destination is the topic's name for a topic, else the
// stream's. The returned function sets each entry's ID, records failures
// and ends the spans.
func (h *Hooks) TracePublish(ctx context.Context, call *redstream.PublishCall) func(ids []string, err error) {
	switch len(call.Entries) {
	case 0:
		return nil
	case 1:
		return h.publishOne(ctx, call)
	}
	return h.publishMany(ctx, call)
}

// publishOne traces a call of one entry with one send span.
func (h *Hooks) publishOne(ctx context.Context, call *redstream.PublishCall) func([]string, error) {
	e := &call.Entries[0]
	dest, part := destination(call, 0)
	start := time.Now()
	var span trace.Span
	custom := h.callerContext(e)
	if custom.IsValid() {
		// The caller's creation context: kept, linked, and this span is
		// not the message's producer (conventions: CLIENT).
		_, span = h.tracer.Start(ctx, spanName("send", dest),
			trace.WithAttributes(producerAttrs(semconv.MessagingOperationTypeSend, dest, part, call.Scheduled, 1)...),
			trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(trace.Link{SpanContext: custom}))
	} else {
		ps := h.produceStart(produceKey{op: opSend, dest: dest, part: part, scheduled: call.Scheduled})
		var sctx context.Context
		sctx, span = h.tracer.Start(ctx, ps.name, ps.opts...)
		e.Headers = h.inject(sctx, e.Headers)
	}
	return func(ids []string, err error) {
		if span.IsRecording() { // else the attributes would be built for nothing
			if len(ids) > 0 && ids[0] != "" {
				span.SetAttributes(idAttr(call.Scheduled, ids[0]))
			}
			if err != nil {
				fail(span, err)
			}
		}
		span.End()
		errType := errorType(err)
		if len(ids) > 0 {
			h.count(ctx, h.sent, 1, seriesKey{op: "send", dest: dest, part: part, errType: errType})
		}
		h.record(ctx, h.opDuration, lasted(span, start).Seconds(), seriesKey{op: "send", opType: "send", dest: dest, part: part, errType: errType})
	}
}

// publishMany traces a call of several entries with a create span each
// and one send span.
func (h *Hooks) publishMany(ctx context.Context, call *redstream.PublishCall) func([]string, error) {
	n := len(call.Entries)
	creates := make([]trace.Span, n)
	links := make([]trace.Link, 0, n)
	dest, part := destination(call, 0)
	inj := h.newInjector(call.Entries)
	var ps *spanStart // the last entry's, which the next one likely shares
	var psKey produceKey
	for i := range call.Entries {
		e := &call.Entries[i]
		d, p := destination(call, i)
		if d != dest {
			dest = ""
		}
		if p != part {
			part = -1
		}
		if custom := h.callerContext(e); custom.IsValid() {
			links = append(links, trace.Link{SpanContext: custom})
			continue
		}
		if k := (produceKey{op: opCreate, dest: d, part: p, scheduled: call.Scheduled}); ps == nil || k != psKey {
			ps, psKey = h.produceStart(k), k
		}
		cctx, span := h.tracer.Start(ctx, ps.name, ps.opts...)
		e.Headers = inj.inject(cctx, e.Headers)
		creates[i] = span
		links = append(links, trace.Link{SpanContext: span.SpanContext()})
	}
	start := time.Now()
	_, send := h.tracer.Start(ctx, spanName("send", dest),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(producerAttrs(semconv.MessagingOperationTypeSend, dest, part, call.Scheduled, n)...),
		trace.WithLinks(links...))
	return func(ids []string, err error) {
		var sent tally
		for i, span := range creates {
			ierr := entryErr(ids, err, i, n)
			if i < len(ids) {
				d, p := destination(call, i)
				sent.add(seriesKey{op: "send", dest: d, part: p, errType: errorType(ierr)})
			}
			if span == nil {
				continue
			}
			if span.IsRecording() { // else the attributes would be built for nothing
				if i < len(ids) && ids[i] != "" {
					span.SetAttributes(idAttr(call.Scheduled, ids[i]))
				}
				if ierr != nil {
					fail(span, ierr)
				}
			}
			span.End()
		}
		if err != nil {
			fail(send, err)
		}
		send.End()
		if h.sent.Enabled(ctx) {
			sent.each(func(k seriesKey, c int64) { h.sent.Add(ctx, c, h.measure(k).add...) })
		}
		h.record(ctx, h.opDuration, lasted(send, start).Seconds(), seriesKey{op: "send", opType: "send", dest: dest, part: part, errType: errorType(err)})
	}
}

// tally counts entries per series. Most calls have one series, which it
// counts without a map.
type tally struct {
	first  seriesKey
	n      int64
	others map[seriesKey]int64
}

// add counts one entry of series k.
func (t *tally) add(k seriesKey) {
	switch {
	case t.n == 0 || k == t.first:
		t.first = k
		t.n++
	default:
		if t.others == nil {
			t.others = map[seriesKey]int64{}
		}
		t.others[k]++
	}
}

// each calls f with each series counted and its count.
func (t *tally) each(f func(seriesKey, int64)) {
	if t.n > 0 {
		f(t.first, t.n)
	}
	for k, c := range t.others {
		f(k, c)
	}
}

// destination returns where entry i of call goes: the topic's name and
// the partition for a topic, else the stream and -1.
func destination(call *redstream.PublishCall, i int) (string, int) {
	if call.Topic != "" && i < len(call.Partitions) {
		return call.Topic, call.Partitions[i]
	}
	if call.Topic != "" {
		return call.Topic, -1
	}
	return call.Entries[i].Stream, -1
}

// producerAttrs returns the attributes of a create or send span: n > 1
// marks a batch. dest "" and part < 0 are left out.
func producerAttrs(op attribute.KeyValue, dest string, part int, scheduled bool, n int) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		semconv.MessagingSystemKey.String(System),
		semconv.MessagingOperationName(op.Value.AsString()),
		op)
	if dest != "" {
		attrs = append(attrs, semconv.MessagingDestinationName(dest))
	}
	if part >= 0 {
		attrs = append(attrs, semconv.MessagingDestinationPartitionID(strconv.Itoa(part)))
	}
	if n > 1 {
		attrs = append(attrs, semconv.MessagingBatchMessageCount(n))
	}
	if scheduled {
		attrs = append(attrs, scheduledKey.Bool(true))
	}
	return attrs
}

// idAttr returns the attribute for an entry's ID: messaging.message.id,
// or, for a scheduled entry, redstream.schedule.id, since the entry gets
// its stream ID only when it is moved into the stream.
func idAttr(scheduled bool, id string) attribute.KeyValue {
	if scheduled {
		return scheduleIDKey.String(id)
	}
	return semconv.MessagingMessageID(id)
}

// Producer operations.
const (
	opSend   = "send"
	opCreate = "create"
)

// produceKey names the start of a producer span of one entry.
type produceKey struct {
	op, dest  string
	part      int
	scheduled bool
}

// spanStart is a span's name and start options.
type spanStart struct {
	name string
	opts []trace.SpanStartOption
}

// produceStart returns the name and start options of a PRODUCER span of
// one entry, made once: a span that is not sampled then costs no
// attribute building. The attributes are given at the start, where
// samplers see them.
func (h *Hooks) produceStart(k produceKey) *spanStart {
	if v, ok := h.produces.load(k); ok {
		return v
	}
	op := semconv.MessagingOperationTypeSend
	if k.op == opCreate {
		op = semconv.MessagingOperationTypeCreate
	}
	return h.produces.store(k, &spanStart{name: spanName(k.op, k.dest), opts: []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(producerAttrs(op, k.dest, k.part, k.scheduled, 1)...),
	}})
}

// spanName is "<operation> <destination>", or the operation alone.
func spanName(op, dest string) string {
	if dest == "" {
		return op
	}
	return op + " " + dest
}

// entryErr returns the failure of entry i of n from a publish call's
// result: its own error in a *BatchError with one per entry, else the
// call's error if the entry got no ID.
func entryErr(ids []string, err error, i, n int) error {
	if err == nil {
		return nil
	}
	var be *redstream.BatchError
	if errors.As(err, &be) && len(be.Errs) == n {
		return be.Errs[i]
	}
	if i < len(ids) && ids[i] != "" {
		return nil
	}
	return err
}

// fail records err on span and marks it failed, if span is recorded.
func fail(span trace.Span, err error) {
	if !span.IsRecording() {
		return // err.Error() and the attribute would be built for nothing
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
	span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
}
