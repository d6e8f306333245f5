package redstreamotel_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// fieldsN returns n fields f0=v ... f<n-1>=v.
func fieldsN(n int) []redstream.Field {
	fs := make([]redstream.Field, n)
	for i := range fs {
		fs[i] = redstream.Field{Name: fmt.Sprint("f", i), Value: "v"}
	}
	return fs
}

// PublishTopicWait checks every event before it starts tracing, then
// builds the commands after the tracer added its headers, ignoring the
// error. An event with a MsgID and 3899 fields (3900 with its key, the
// limit) passes the check; the traceparent header makes it 3901, and the
// call must then fail cleanly (or succeed), never panic.
func TestPublishTopicWaitTracedAtFieldLimitDoesNotPanic(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	ctx := ctxT(t, 10*time.Second)
	topic, err := redstream.CreateTopic(ctx, client, t.Name(), 2)
	if err != nil {
		t.Fatal(err)
	}
	event := redstream.KeyedEntry{Key: "k", Fields: fieldsN(3899), MsgID: "m1"}
	plain, _ := redstream.NewPublisher(client)
	if _, _, err := plain.PublishTopicWait(ctx, topic, 0, time.Second, event); err != nil {
		t.Fatalf("untraced PublishTopicWait: %v (the event is within the limits)", err)
	}
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("traced PublishTopicWait panicked: %v", v)
		}
	}()
	event.MsgID = "m2"
	if _, _, err := pub.PublishTopicWait(ctx, topic, 0, time.Second, event); err != nil {
		t.Logf("traced PublishTopicWait: %v", err)
	}
	if started, ended := len(tr.spans.Started()), len(tr.spans.Ended()); started != ended {
		t.Errorf("%d spans started, %d ended", started, ended)
	}
}

// Turning tracing on must not make a valid publish fail: an entry with a
// MsgID and 3900 fields (the documented limit) is written without
// tracing, and the traceparent header the tracer adds on its own must not
// push it over.
func TestTracingDoesNotShrinkTheFieldLimit(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	ctx := ctxT(t, 10*time.Second)
	stream := t.Name()
	plain, _ := redstream.NewPublisher(client)
	if _, err := plain.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: fieldsN(3900), MsgID: "a"}); err != nil {
		t.Fatalf("untraced: %v", err)
	}
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	if _, err := pub.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: fieldsN(3900), MsgID: "b"}); err != nil {
		t.Fatalf("traced: %v; the same entry is accepted without tracing", err)
	}
}

// A field given to Publish whose name starts with HeaderPrefix is a
// header by hand (HeaderPrefix's doc), and an entry whose caller already
// set a traceparent keeps it (the package doc). So a producer that
// writes "redstream:h:traceparent" among its fields, as the README tells
// producers in other languages to, must see its trace continued: the
// entry must carry that traceparent only, and the handler's span must be
// in the caller's trace, the child of the caller's span.
func TestHandWrittenTraceparentFieldIsKept(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const traceID, spanID = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	const own = "00-" + traceID + "-" + spanID + "-01"
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields(redstream.HeaderPrefix+"traceparent", own, "k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := srv.Do(t, "XRANGE", stream, id, id).AsXRangeSlices()
	if err != nil || len(raw) != 1 {
		t.Fatalf("XRANGE: %v %v", raw, err)
	}
	var tps []string
	for _, fv := range raw[0].FieldValues {
		if fv.Field == redstream.HeaderPrefix+"traceparent" {
			tps = append(tps, fv.Value)
		}
	}
	if len(tps) != 1 || tps[0] != own {
		t.Errorf("stored traceparents %q, want only the caller's %s", tps, own)
	}
	cons, _ := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	run(t, cons)
	p := tr.one(t, "process "+stream)
	if got := p.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("process span in trace %s, want the caller's %s", got, traceID)
	}
	if got := p.Parent().SpanID().String(); got != spanID {
		t.Errorf("process span's parent %s, want the caller's span %s", got, spanID)
	}
}

// "Each delivery of a message is a span of its own, so a message that
// fails three times shows three process spans in the producer's trace,
// the last with dead_letter", and the issue asks for dead letters
// visible on the span. A message whose consumer died while handling it
// on its last allowed delivery is dead-lettered by the consumer that
// takes it over, without calling the handler; the trace must still show
// that dead letter (a redstream.dead_letter event, or a span with
// redstream.outcome dead_letter, for the message).
func TestOverDeliveredDeadLetterIsTraced(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	ctx := ctxT(t, 10*time.Second)
	stream := t.Name()
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.Publish(ctx, stream, redstream.Fields("k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	send := tr.one(t, "send "+stream)
	// A consumer takes the entry (its one allowed delivery) and dies.
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")
	srv.Do(t, "XREADGROUP", "GROUP", "g", "dead", "COUNT", "1", "STREAMS", stream, ">")
	cons, _ := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.WithMetrics(tr.hooks), redstream.MaxDeliveries(1), redstream.ClaimMinIdle(50*time.Millisecond))
	run(t, cons)
	waitFor(t, 10*time.Second, "the dead letter", func() bool { return cons.Stats().DeadLettered == 1 })
	cons.Close()

	for _, s := range tr.spans.Ended() {
		if s.SpanContext().TraceID() != send.SpanContext().TraceID() {
			continue
		}
		if o, ok := attr(s, "redstream.outcome"); ok && o.AsString() == "dead_letter" {
			return
		}
		for _, e := range events(s, "redstream.dead_letter") {
			if v, ok := eventAttr(e, "messaging.message.id"); ok && v.AsString() == id {
				return
			}
		}
	}
	t.Fatalf("entry %s was dead-lettered, but no span of its trace shows it (spans: %s)", id, tr.names())
}
