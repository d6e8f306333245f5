package redstream_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// Publish with no fields is refused with ErrNoFields whether or not a
// tracer is set: the header a tracer adds does not make an entry.
func TestTracedPublishWithoutFieldsIsRefused(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(&tracer{name: "trace"}))
	if _, err := pub.Publish(ctx, stream, nil); !errors.Is(err, redstream.ErrNoFields) {
		t.Errorf("Publish(no fields) = %v, want ErrNoFields", err)
	}
	if n, _ := c.Do(ctx, c.B().Xlen().Key(stream).Build()).AsInt64(); n != 0 {
		t.Fatalf("%d entries written, holding the tracer's header alone: %q", n, rawFields(t, stream))
	}
}

// A header written by hand in Publish's fields (as HeaderPrefix allows)
// is seen by the tracer as a header: the entry keeps that one header,
// not a second one of the tracer's placed before it.
func TestTracerSeesHandWrittenHeaders(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := context.WithValue(ctxT(t, 10*time.Second), ctxKey("trace"), "T")
	stream := key(t, "s")
	tr := &tracer{name: "trace"}
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(tr))
	if _, err := pub.Publish(ctx, stream, redstream.Fields(redstream.HeaderPrefix+"tenant", "acme", "f", "v")); err != nil {
		t.Fatal(err)
	}
	pubs := tr.publishes()
	if len(pubs) != 1 {
		t.Fatalf("%d publishes traced", len(pubs))
	}
	e := pubs[0].call.Entries[0]
	found := false
	for _, h := range e.Headers {
		found = found || h.Name == "tenant"
	}
	if !found {
		t.Errorf("the tracer saw headers %v and fields %v: the hand-written header tenant is not among the headers", e.Headers, e.Fields)
	}
}

// An entry delivered more than MaxDeliveries times (its earlier
// consumers died on it) is dead-lettered without a handler call; the
// tracer still learns of that dead letter, as the metrics do.
func TestTracerSeesOverDeliveredDeadLetter(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	id, err := srv.Do(t, "XADD", stream, "*", "seq", "stalled").ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", stream, "g", "0"},
		{"XREADGROUP", "GROUP", "g", "gone", "COUNT", "1", "STREAMS", stream, ">"},
		{"XCLAIM", stream, "g", "gone", "0", id, "RETRYCOUNT", "5"},
	} {
		if err := srv.Do(t, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	tr := &tracer{name: "trace"}
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		return nil
	}), redstream.MaxDeliveries(2), redstream.ClaimMinIdle(50*time.Millisecond), redstream.ClaimInterval(20*time.Millisecond),
		redstream.Block(50*time.Millisecond), redstream.WithMetrics(tr))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "the dead letter", func() bool { return cons.Stats().DeadLettered == 1 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for _, h := range tr.handles() {
		if len(h.ids) == 1 && h.ids[0] == id && h.outcomes[0] == redstream.OutcomeDeadLetter && h.ended {
			return
		}
	}
	t.Fatalf("the tracer saw %+v: nothing of the dead letter of %s", tr.handles(), id)
}
