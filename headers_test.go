package redstream_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// received collects the messages a handler saw, copied.
type received struct {
	mu   sync.Mutex
	msgs []redstream.Message
}

func (r *received) handler() redstream.Handler {
	return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		r.add(m)
		return nil
	})
}

func (r *received) add(m *redstream.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := *m
	c.Fields = append([]redstream.Field(nil), m.Fields...)
	c.Headers = append([]redstream.Field(nil), m.Headers...)
	r.msgs = append(r.msgs, c)
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *received) all() []redstream.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]redstream.Message(nil), r.msgs...)
}

// consumeAll runs a consumer of stream until n messages arrived.
func consumeAll(t *testing.T, stream string, n int, opts ...redstream.ConsumerOption) []redstream.Message {
	t.Helper()
	c := dial(t, sharedRedis(t))
	var got received
	cons, err := redstream.NewConsumer(c, stream, "g", got.handler(), append([]redstream.ConsumerOption{redstream.StartID("0")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "messages", func() bool { return got.len() >= n })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	return got.all()
}

// rawFields returns the field/value pairs of a stream's entries as Redis
// holds them.
func rawFields(t *testing.T, stream string) [][]string {
	t.Helper()
	es, err := sharedRedis(t).Do(t, "XRANGE", stream, "-", "+").AsXRangeSlices()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, e := range es {
		var kv []string
		for _, fv := range e.FieldValues {
			kv = append(kv, fv.Field, fv.Value)
		}
		out = append(out, kv)
	}
	return out
}

var (
	twoHeaders = redstream.Fields("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant", "acme")
	oneField   = redstream.Fields("whatHappened", "ticket received")
)

// Headers are written first, each as a field named with HeaderPrefix,
// and come back apart from the fields, from every way of publishing.
func TestHeadersTravelApartFromFields(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	pub, _ := redstream.NewPublisher(c)
	wantRaw := []string{
		"redstream:h:traceparent", twoHeaders[0].Value,
		"redstream:h:tenant", "acme",
		"whatHappened", "ticket received",
	}
	for name, publish := range map[string]func(stream string) error{
		"PublishEntry": func(s string) error {
			_, err := pub.PublishEntry(ctx, redstream.Entry{Stream: s, Fields: oneField, Headers: twoHeaders})
			return err
		},
		"PublishEntry with MsgID": func(s string) error {
			_, err := pub.PublishEntry(ctx, redstream.Entry{Stream: s, Fields: oneField, Headers: twoHeaders, MsgID: "m1"})
			return err
		},
		"PublishBatch": func(s string) error {
			_, err := pub.PublishBatch(ctx, []redstream.Entry{{Stream: s, Fields: oneField, Headers: twoHeaders}})
			return err
		},
		"PublishEntries": func(s string) error {
			_, err := pub.PublishEntries(ctx, []redstream.Entry{{Stream: s, Fields: oneField, Headers: twoHeaders}})
			return err
		},
		"PublishBatchAt": func(s string) error {
			_, err := pub.PublishBatchAt(ctx, []redstream.ScheduledEntry{{Stream: s, Fields: oneField, Headers: twoHeaders}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			stream := key(t, "s")
			if err := publish(stream); err != nil {
				t.Fatal(err)
			}
			got := consumeAll(t, stream, 1)
			if !reflect.DeepEqual(got[0].Headers, twoHeaders) || !reflect.DeepEqual(got[0].Fields, oneField) {
				t.Fatalf("headers %v, fields %v; want %v and %v", got[0].Headers, got[0].Fields, twoHeaders, oneField)
			}
			if got[0].Header("tenant") != "acme" || got[0].Header("missing") != "" {
				t.Fatalf("Header(tenant) = %q, Header(missing) = %q", got[0].Header("tenant"), got[0].Header("missing"))
			}
			if raw := rawFields(t, stream); !reflect.DeepEqual(raw[0], wantRaw) {
				t.Fatalf("stored as %q, want %q", raw[0], wantRaw)
			}
		})
	}
}

// A topic event's headers lead, before its key; the topic consumer sees
// them, and the key still orders the event.
func TestTopicEventsCarryHeaders(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := redstream.NewPublisher(c)
	ev := redstream.KeyedEntry{Key: "k", Fields: oneField, Headers: twoHeaders}
	if _, err := pub.PublishTopic(ctx, top, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishTopicIn(ctx, top, 0, ev); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pub.PublishTopicWait(ctx, top, 0, time.Second, ev); err != nil {
		t.Fatal(err)
	}
	var got received
	tc, _ := redstream.NewTopicConsumer(c, top, "g", got.handler(), redstream.Block(100*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "the events", func() bool { return got.len() == 3 })
	tc.Shutdown(ctxT(t, 5*time.Second))
	<-done
	wantFields := append(redstream.Fields(redstream.KeyField, "k"), oneField...)
	for _, m := range got.all() {
		if !reflect.DeepEqual(m.Headers, twoHeaders) || !reflect.DeepEqual(m.Fields, wantFields) {
			t.Fatalf("headers %v, fields %v", m.Headers, m.Fields)
		}
	}
}

// Entries without headers, as redis-cli or the seed's publisher write
// them, arrive exactly as written; a header field written by hand, even
// after other fields, is read as a header.
func TestEntriesFromOtherProducers(t *testing.T) {
	srv := sharedRedis(t)
	stream := key(t, "s")
	srv.Do(t, "XADD", stream, "*", "whatHappened", "ticket received", "ticketID", "7", "redstream:x", "y")
	srv.Do(t, "XADD", stream, "*", "f", "1", "redstream:h:traceparent", "tp", "g", "2", "redstream:h:", "empty name")
	got := consumeAll(t, stream, 2)
	if got[0].Headers != nil || !reflect.DeepEqual(got[0].Fields, redstream.Fields("whatHappened", "ticket received", "ticketID", "7", "redstream:x", "y")) {
		t.Fatalf("plain entry: headers %v, fields %v", got[0].Headers, got[0].Fields)
	}
	if !reflect.DeepEqual(got[1].Headers, redstream.Fields("traceparent", "tp", "", "empty name")) || !reflect.DeepEqual(got[1].Fields, redstream.Fields("f", "1", "g", "2")) {
		t.Fatalf("hand-written headers: headers %v, fields %v", got[1].Headers, got[1].Fields)
	}
}

// The Inspector's views split headers off too.
func TestInspectorShowsHeaders(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	pub, _ := redstream.NewPublisher(c)
	if _, err := pub.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: oneField, Headers: twoHeaders}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishBatchAt(ctx, []redstream.ScheduledEntry{{Stream: stream, Fields: oneField, Headers: twoHeaders, In: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	ins := redstream.NewInspector(c)
	ms, err := ins.Range(ctx, stream, "-", "+", 10, false)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Range = %v, %v", ms, err)
	}
	if !reflect.DeepEqual(ms[0].Headers, twoHeaders) || !reflect.DeepEqual(ms[0].Fields, oneField) {
		t.Fatalf("Range: headers %v, fields %v", ms[0].Headers, ms[0].Fields)
	}
	sched, err := ins.Scheduled(ctx, stream, 10)
	if err != nil || len(sched) != 1 {
		t.Fatalf("Scheduled = %v, %v", sched, err)
	}
	if !reflect.DeepEqual(sched[0].Headers, twoHeaders) || !reflect.DeepEqual(sched[0].Fields, oneField) {
		t.Fatalf("Scheduled: headers %v, fields %v", sched[0].Headers, sched[0].Fields)
	}
}

// A dead letter keeps the entry's headers, and a replay writes them back,
// so a replayed entry continues its trace.
func TestDeadLettersKeepHeadersThroughReplay(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	pub, _ := redstream.NewPublisher(c)
	if _, err := pub.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: oneField, Headers: twoHeaders}); err != nil {
		t.Fatal(err)
	}
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		return redstream.Permanent(errors.New("boom"))
	}), redstream.StartID("0"))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "the dead letter", func() bool { return cons.Stats().DeadLettered == 1 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	ds, err := dlq.List(ctx, "-", "+", 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("List = %v, %v", ds, err)
	}
	if !reflect.DeepEqual(ds[0].Headers, twoHeaders) || !reflect.DeepEqual(ds[0].Fields, oneField) {
		t.Fatalf("dead letter: headers %v, fields %v", ds[0].Headers, ds[0].Fields)
	}
	if n, err := dlq.Replay(ctx, ds[0].ID); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	raw := rawFields(t, stream)
	want := []string{"redstream:h:traceparent", twoHeaders[0].Value, "redstream:h:tenant", "acme", "whatHappened", "ticket received"}
	if len(raw) != 2 || !reflect.DeepEqual(raw[1], want) {
		t.Fatalf("replayed entry stored as %q, want %q", raw, want)
	}
}

// Headers alone do not make an entry.
func TestHeadersWithoutFieldsAreRefused(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	pub, _ := redstream.NewPublisher(c)
	stream := key(t, "s")
	if _, err := pub.PublishEntry(ctx, redstream.Entry{Stream: stream, Headers: twoHeaders}); !isNoFields(err) {
		t.Fatalf("PublishEntry = %v, want ErrNoFields", err)
	}
	if _, err := pub.PublishBatch(ctx, []redstream.Entry{{Stream: stream, Headers: twoHeaders}}); !isNoFields(err) {
		t.Fatalf("PublishBatch = %v, want ErrNoFields", err)
	}
	if n, _ := c.Do(ctx, c.B().Exists().Key(stream).Build()).AsInt64(); n != 0 {
		t.Fatal("something was written")
	}
}

func isNoFields(err error) bool { return errors.Is(err, redstream.ErrNoFields) }
