package redstreamotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
	"github.com/redstream-go/redstream/redstreamtest"
)

// traceparentOf returns the span context a traceparent header names.
func traceparentOf(headers []redstream.Field) trace.SpanContext {
	c := propagation.MapCarrier{}
	for _, h := range headers {
		c[h.Name] = h.Value
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
}

// TestPublishHandleContinuesTheProducersTrace: by default the handler's
// span is a child of the publish span, in its trace, and the handler's
// context carries it; both carry the conventions' attributes.
func TestPublishHandleContinuesTheProducersTrace(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream, group := t.Name(), "workers"

	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	fields := redstream.Fields("ticket", "42")
	member, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, _ := baggage.New(member)
	id, err := pub.Publish(baggage.ContextWithBaggage(ctxT(t, 5*time.Second), bag), stream, fields)
	if err != nil {
		t.Fatal(err)
	}
	if len(fields) != 1 || fields[0] != (redstream.Field{Name: "ticket", Value: "42"}) {
		t.Fatalf("the caller's fields changed: %v", fields)
	}
	send := tr.one(t, "send "+stream)
	if send.SpanKind() != trace.SpanKindProducer {
		t.Errorf("send span kind %v, want producer", send.SpanKind())
	}
	wantAttrs(t, send, map[string]any{
		"messaging.system":           "redis",
		"messaging.operation.name":   "send",
		"messaging.operation.type":   "send",
		"messaging.destination.name": stream,
		"messaging.message.id":       id,
	})
	wantNoAttrs(t, send, "messaging.batch.message_count", "redstream.scheduled", "error.type")

	type seen struct {
		sc        trace.SpanContext
		tenant    string
		header    string
		stored    []redstream.Field
		storedVal string
	}
	got := make(chan seen, 1)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		got <- seen{sc: trace.SpanContextFromContext(ctx), tenant: baggage.FromContext(ctx).Member("tenant").Value(), header: m.Header("traceparent"), stored: m.Headers, storedVal: m.Value("ticket")}
		return nil
	})
	cons, err := redstream.NewConsumer(client, stream, group, h, redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	process := tr.one(t, "process "+stream)
	s := <-got

	if s.header == "" || !traceparentOf(s.stored).Equal(send.SpanContext().WithRemote(true)) {
		t.Errorf("the entry's traceparent %q does not name the send span %s", s.header, send.SpanContext().SpanID())
	}
	if s.tenant != "acme" {
		t.Errorf("the handler's baggage has tenant %q, want the publisher's acme", s.tenant)
	}
	if s.storedVal != "42" {
		t.Errorf("field ticket = %q, want 42", s.storedVal)
	}
	if process.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("process span kind %v, want consumer", process.SpanKind())
	}
	wantChild(t, process, send)
	if !linksTo(process, send.SpanContext()) {
		t.Error("the process span does not link to the send span")
	}
	if s.sc.SpanID() != process.SpanContext().SpanID() {
		t.Errorf("the handler's context carries span %s, want the process span %s", s.sc.SpanID(), process.SpanContext().SpanID())
	}
	wantAttrs(t, process, map[string]any{
		"messaging.system":              "redis",
		"messaging.operation.name":      "process",
		"messaging.operation.type":      "process",
		"messaging.destination.name":    stream,
		"messaging.consumer.group.name": group,
		"messaging.message.id":          id,
		"redstream.message.deliveries":  1,
		"redstream.outcome":             "ack",
	})
	wantNoAttrs(t, process, "messaging.batch.message_count", "messaging.destination.partition.id", "error.type")
	if process.Status().Code == codes.Error {
		t.Errorf("process span status %v, want not an error", process.Status())
	}
}

// TestLinkOnlyStartsANewTraceLinkedToTheProducer: with LinkOnly the
// handler's span starts its own trace and links to the publish span.
func TestLinkOnlyStartsANewTraceLinkedToTheProducer(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t, redstreamotel.LinkOnly())
	stream := t.Name()

	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	send := tr.one(t, "send "+stream)
	process := tr.one(t, "process "+stream)
	if process.SpanContext().TraceID() == send.SpanContext().TraceID() {
		t.Error("the process span continues the producer's trace, want a new trace")
	}
	if process.Parent().IsValid() {
		t.Errorf("the process span has parent %s, want none", process.Parent().SpanID())
	}
	if !linksTo(process, send.SpanContext()) {
		t.Errorf("the process span's links %v do not include the send span", process.Links())
	}
	wantAttrs(t, process, map[string]any{"messaging.message.id": id, "redstream.outcome": "ack"})
}

// TestRetriesThenDeadLetterAreOnTheSpans: a handler that always fails
// gets one process span per delivery, each in the producer's trace with
// the error recorded; the retries say so, the first with the delay the
// handler chose, and the last says dead_letter.
func TestRetriesThenDeadLetterAreOnTheSpans(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const max = 3

	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	h := redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		if m.Deliveries == 1 {
			return redstream.RetryAfter(boom, 20*time.Millisecond)
		}
		return boom
	})
	cons, err := redstream.NewConsumer(client, stream, "g", h, redstream.StartID("0"), redstream.WithMetrics(tr.hooks),
		redstream.MaxDeliveries(max), redstream.RetryBackoff(time.Millisecond, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	send := tr.one(t, "send "+stream)
	spans := tr.wait(t, "process "+stream, max)
	if len(spans) != max {
		t.Fatalf("%d process spans, want %d", len(spans), max)
	}
	sort.Slice(spans, func(i, j int) bool {
		a, _ := attr(spans[i], "redstream.message.deliveries")
		b, _ := attr(spans[j], "redstream.message.deliveries")
		return a.AsInt64() < b.AsInt64()
	})
	for i, s := range spans {
		delivery := i + 1
		t.Run(fmt.Sprint("delivery ", delivery), func(t *testing.T) {
			wantChild(t, s, send)
			wantAttrs(t, s, map[string]any{"messaging.message.id": id, "redstream.message.deliveries": delivery, "error.type": "_OTHER"})
			if s.Status().Code != codes.Error {
				t.Errorf("status %v, want error", s.Status())
			}
			if ex := events(s, "exception"); len(ex) != 1 {
				t.Errorf("%d exception events, want 1", len(ex))
			} else if msg, _ := eventAttr(ex[0], "exception.message"); delivery > 1 && msg.AsString() != "boom" {
				t.Errorf("exception.message %q, want boom", msg.AsString())
			}
			outcome, event := "retry", "redstream.retry"
			if delivery == max {
				outcome, event = "dead_letter", "redstream.dead_letter"
			}
			wantAttrs(t, s, map[string]any{"redstream.outcome": outcome})
			evs := events(s, event)
			if len(evs) != 1 {
				t.Fatalf("%d %s events, want 1 (events: %v)", len(evs), event, s.Events())
			}
			if v, _ := eventAttr(evs[0], "messaging.message.id"); v.AsString() != id {
				t.Errorf("event's message id %q, want %s", v.AsString(), id)
			}
			if delivery == 1 {
				wantAttrs(t, s, map[string]any{"redstream.retry.delay": 0.02})
				if v, ok := eventAttr(evs[0], "redstream.retry.delay"); !ok || v.AsFloat64() != 0.02 {
					t.Errorf("retry event's delay %v, want 0.02", v.AsInterface())
				}
			} else {
				wantNoAttrs(t, s, "redstream.retry.delay")
			}
		})
	}
}

// TestBatchSpansLinkEveryMessage: PublishBatch gives each entry a create
// span whose context the entry carries, and one send span linking them;
// a BatchHandler's span counts its messages and links to each one's
// create span.
func TestBatchSpansLinkEveryMessage(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const n = 3

	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	// Headers with room to spare: the tracer must not write into them.
	callerHeaders := make([]redstream.Field, 1, 8)
	callerHeaders[0] = redstream.Field{Name: "origin", Value: "test"}
	entries := make([]redstream.Entry, n)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("i", fmt.Sprint(i)), Headers: callerHeaders}
	}
	ids, err := pub.PublishBatch(ctxT(t, 5*time.Second), entries)
	if err != nil {
		t.Fatal(err)
	}
	if spare := callerHeaders[:cap(callerHeaders)][1]; spare != (redstream.Field{}) {
		t.Fatalf("the tracer wrote %v into the caller's headers", spare)
	}
	for i, e := range entries {
		if len(e.Headers) != 1 {
			t.Fatalf("the caller's entry %d has headers %v, want its own one", i, e.Headers)
		}
	}

	creates := tr.wait(t, "create "+stream, n)
	send := tr.one(t, "send "+stream)
	if send.SpanKind() != trace.SpanKindClient {
		t.Errorf("send span kind %v, want client (the create spans are the producers)", send.SpanKind())
	}
	wantAttrs(t, send, map[string]any{
		"messaging.operation.type": "send", "messaging.batch.message_count": n, "messaging.destination.name": stream,
	})
	wantNoAttrs(t, send, "messaging.message.id")
	byID := map[string]sdktrace.ReadOnlySpan{}
	for _, c := range creates {
		if c.SpanKind() != trace.SpanKindProducer {
			t.Errorf("create span kind %v, want producer", c.SpanKind())
		}
		if !linksTo(send, c.SpanContext()) {
			t.Errorf("the send span does not link to create span %s", c.SpanContext().SpanID())
		}
		wantAttrs(t, c, map[string]any{"messaging.operation.type": "create", "messaging.operation.name": "create", "messaging.destination.name": stream})
		wantNoAttrs(t, c, "messaging.batch.message_count")
		v, _ := attr(c, "messaging.message.id")
		byID[v.AsString()] = c
	}
	for _, id := range ids {
		if byID[id] == nil {
			t.Fatalf("no create span has messaging.message.id %s (ids %v)", id, ids)
		}
	}

	var mu sync.Mutex
	handled := map[string]trace.SpanContext{} // id -> its traceparent
	bh := redstream.BatchHandlerFunc(func(_ context.Context, msgs []*redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range msgs {
			handled[m.ID] = traceparentOf(m.Headers)
			if m.Header("origin") != "test" {
				t.Errorf("message %s lost the caller's header: %v", m.ID, m.Headers)
			}
		}
		return nil
	})
	cons, err := redstream.NewBatchConsumer(client, stream, "g", bh, redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	total := 0
	var processes []sdktrace.ReadOnlySpan
	waitFor(t, 15*time.Second, "process spans for every message", func() bool {
		processes, total = tr.named("process "+stream), 0
		for _, p := range processes {
			c, _ := attr(p, "messaging.batch.message_count")
			total += int(c.AsInt64())
		}
		return total >= n
	})
	if total != n {
		t.Fatalf("process spans count %d messages, want %d", total, n)
	}
	linked := 0
	for _, p := range processes {
		if p.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("process span kind %v, want consumer", p.SpanKind())
		}
		if p.Parent().IsValid() {
			t.Errorf("batch process span has parent %s, want none", p.Parent().SpanID())
		}
		wantAttrs(t, p, map[string]any{"messaging.operation.type": "process", "messaging.consumer.group.name": "g"})
		wantNoAttrs(t, p, "messaging.message.id", "redstream.outcome")
		for _, l := range p.Links() {
			var id string
			for _, kv := range l.Attributes {
				if kv.Key == "messaging.message.id" {
					id = kv.Value.AsString()
				}
			}
			c := byID[id]
			if c == nil || l.SpanContext.SpanID() != c.SpanContext().SpanID() {
				t.Errorf("link to %s with message id %q is not that message's create span", l.SpanContext.SpanID(), id)
				continue
			}
			linked++
		}
	}
	if linked != n {
		t.Errorf("%d links from process spans to create spans, want %d", linked, n)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, sc := range handled {
		if sc.SpanID() != byID[id].SpanContext().SpanID() {
			t.Errorf("message %s carries span %s, want its create span %s", id, sc.SpanID(), byID[id].SpanContext().SpanID())
		}
	}
}

// TestBatchOverStreamsHasNoCommonDestination: the send span of a batch
// for several streams is named "send" alone; each create span names its
// own stream.
func TestBatchOverStreamsHasNoCommonDestination(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	a, b := t.Name()+":a", t.Name()+":b"
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	if _, err := pub.PublishBatch(ctxT(t, 5*time.Second), []redstream.Entry{
		{Stream: a, Fields: redstream.Fields("k", "v")}, {Stream: b, Fields: redstream.Fields("k", "v")},
	}); err != nil {
		t.Fatal(err)
	}
	send := tr.one(t, "send")
	wantNoAttrs(t, send, "messaging.destination.name")
	wantAttrs(t, send, map[string]any{"messaging.batch.message_count": 2})
	wantAttrs(t, tr.one(t, "create "+a), map[string]any{"messaging.destination.name": a})
	wantAttrs(t, tr.one(t, "create "+b), map[string]any{"messaging.destination.name": b})
}

// TestCallersTraceContextIsKept: an entry that already carries a
// traceparent keeps it; the send span links to it instead and is not the
// message's producer.
func TestCallersTraceContextIsKept(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.PublishEntry(ctxT(t, 5*time.Second), redstream.Entry{Stream: stream, Fields: redstream.Fields("k", "v"),
		Headers: []redstream.Field{{Name: "traceparent", Value: own}}})
	if err != nil {
		t.Fatal(err)
	}
	send := tr.one(t, "send "+stream)
	if send.SpanKind() != trace.SpanKindClient {
		t.Errorf("send span kind %v, want client", send.SpanKind())
	}
	ownSC := traceparentOf([]redstream.Field{{Name: "traceparent", Value: own}})
	if !linksTo(send, ownSC) {
		t.Errorf("the send span does not link to the caller's context")
	}
	msgs, err := redstream.NewInspector(client).Range(ctxT(t, 5*time.Second), stream, id.ID, id.ID, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Header("traceparent") != own {
		t.Fatalf("stored entry %v, want its traceparent kept as %s", msgs, own)
	}
}

// TestTopicEventSpans: a topic event's spans name the topic as their
// destination and its partition, and the handler's span is the child of
// the publish span.
func TestTopicEventSpans(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	ctx := ctxT(t, 30*time.Second)
	name := t.Name()
	top, err := redstream.CreateTopic(ctx, client, name, 4)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	rcs, err := pub.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "order-7", Fields: redstream.Fields("total", "12")})
	if err != nil {
		t.Fatal(err)
	}
	part := fmt.Sprint(rcs[0].Partition)
	send := tr.one(t, "send "+name)
	wantAttrs(t, send, map[string]any{
		"messaging.destination.name":         name,
		"messaging.destination.partition.id": part,
		"messaging.message.id":               rcs[0].ID,
		"messaging.operation.type":           "send",
	})

	tc, err := redstream.NewTopicConsumer(client, top, "billing", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.WithMetrics(tr.hooks), redstream.StartID("0"), redstream.Lease(3*time.Second), redstream.Block(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	run(t, tc)
	process := tr.one(t, "process "+name)
	wantChild(t, process, send)
	wantAttrs(t, process, map[string]any{
		"messaging.destination.name":         name,
		"messaging.destination.partition.id": part,
		"messaging.consumer.group.name":      "billing",
		"messaging.message.id":               rcs[0].ID,
		"redstream.outcome":                  "ack",
	})
}

// TestScheduledPublishIsMarked: a scheduled publish's span says so and
// carries the scheduled ID; the entry keeps its trace context until it is
// moved in and handled.
func TestScheduledPublishIsMarked(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	sid, err := pub.PublishIn(ctxT(t, 5*time.Second), stream, 0, redstream.Fields("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	send := tr.one(t, "send "+stream)
	wantAttrs(t, send, map[string]any{"redstream.scheduled": true, "redstream.schedule.id": sid})
	wantNoAttrs(t, send, "messaging.message.id")
	cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("0"), redstream.WithMetrics(tr.hooks), redstream.Block(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	wantChild(t, tr.one(t, "process "+stream), send)
}

// TestPublishFailureIsRecorded: a publish that fails marks its span as
// failed with the error's type.
func TestPublishFailureIsRecorded(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	srv.Do(t, "SET", stream, "not a stream")
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	if _, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("k", "v")); !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("publish: %v, want ErrNotStream", err)
	}
	send := tr.one(t, "send "+stream)
	if send.Status().Code != codes.Error {
		t.Errorf("status %v, want error", send.Status())
	}
	wantAttrs(t, send, map[string]any{"error.type": "not_stream"})
	wantNoAttrs(t, send, "messaging.message.id")
	if len(events(send, "exception")) != 1 {
		t.Errorf("events %v, want one exception", send.Events())
	}
}

// TestJoinHooksTracesAndCounts: hooks joined with another Metrics still
// trace from publish to handler, and the other Metrics still counts.
func TestJoinHooksTracesAndCounts(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	var count counting
	hooks := redstream.JoinHooks(&count, tr.hooks)
	stream := t.Name()
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(hooks))
	if _, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("k", "v")); err != nil {
		t.Fatal(err)
	}
	cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("0"), redstream.WithMetrics(hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	wantChild(t, tr.one(t, "process "+stream), tr.one(t, "send "+stream))
	waitFor(t, 10*time.Second, "the handled count", func() bool {
		_, h := count.counts()
		return h[redstream.OutcomeAck] == 1
	})
	if p, h := count.counts(); p != 1 || len(h) != 1 {
		t.Errorf("counted %d published, handled %v; want 1 and one ack", p, h)
	}
}

// TestNewRefusesNilOptions: a nil provider or propagator is an error, not
// a panic later.
func TestNewRefusesNilOptions(t *testing.T) {
	for name, o := range map[string]redstreamotel.Option{
		"tracer":     redstreamotel.WithTracerProvider(nil),
		"meter":      redstreamotel.WithMeterProvider(nil),
		"propagator": redstreamotel.WithPropagator(nil),
	} {
		if _, err := redstreamotel.New(o); !errors.Is(err, redstreamotel.ErrInvalidOption) {
			t.Errorf("%s: New(nil) = %v, want ErrInvalidOption", name, err)
		}
	}
}

// TestPropagatorOption: the configured propagator writes the headers.
func TestPropagatorOption(t *testing.T) {
	tr := newTracing(t, redstreamotel.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}, onlyField{})))
	call := &redstream.PublishCall{Entries: []redstream.Entry{{Stream: "s", Fields: redstream.Fields("k", "v")}}}
	done := tr.hooks.TracePublish(context.Background(), call)
	done([]string{"1-0"}, nil)
	var names []string
	for _, h := range call.Entries[0].Headers {
		names = append(names, h.Name)
	}
	if !slices.Contains(names, "traceparent") || !slices.Contains(names, "x-custom") {
		t.Errorf("headers %v, want traceparent and x-custom", names)
	}
}

// onlyField is a propagator that writes one fixed header.
type onlyField struct{}

func (onlyField) Inject(_ context.Context, c propagation.TextMapCarrier) { c.Set("x-custom", "1") }
func (onlyField) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (onlyField) Fields() []string { return []string{"x-custom"} }
