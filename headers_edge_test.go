package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// An entry of headers alone is valid in Redis (redis-cli writes one with
// "XADD s * redstream:h:tenant acme") and a Consumer hands it to its
// handler. If the handler fails for good it is dead-lettered with its
// headers, so a replay can write it back exactly as it was; it must not
// be refused, nor stop ReplayRange before the letters after it.
func TestHeaderOnlyEntryReplaysFromDeadLetters(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 20*time.Second)
	stream := key(t, "s")
	srv.Do(t, "XADD", stream, "*", redstream.HeaderPrefix+"tenant", "acme")
	srv.Do(t, "XADD", stream, "*", "f", "v")
	cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		return redstream.Permanent(errors.New("boom"))
	}), redstream.StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "two dead letters", func() bool { return cons.Stats().DeadLettered == 2 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done

	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	n, err := dlq.ReplayRange(ctx, "-", "+", nil)
	if err != nil || n != 2 {
		t.Fatalf("ReplayRange = %d, %v; want both letters replayed (the header-only entry was a valid entry)", n, err)
	}
	raw := rawFields(t, stream)
	replayedHeaderOnly := false
	for _, kv := range raw[2:] {
		if len(kv) == 2 && kv[0] == redstream.HeaderPrefix+"tenant" && kv[1] == "acme" {
			replayedHeaderOnly = true
		}
	}
	if !replayedHeaderOnly {
		t.Fatalf("stream after replay %q: the header-only entry was not written back", raw)
	}
}

// An entry with many headers (10,000, written by another producer or by
// a Publisher, which accepts them) that its handler fails for good must
// reach the dead-letter stream: the handler must not be called again
// and again for it.
func TestEntryWithTenThousandHeadersIsDeadLettered(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 30*time.Second)
	stream := key(t, "s")
	pub, _ := redstream.NewPublisher(c)
	hs := make([]redstream.Field, 10000)
	for i := range hs {
		hs[i] = redstream.Field{Name: fmt.Sprint("h", i), Value: "v"}
	}
	if _, err := pub.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: oneField, Headers: hs}); err != nil {
		t.Fatalf("PublishEntry with 10000 headers: %v", err)
	}
	var calls atomic.Int64
	cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		calls.Add(1)
		return redstream.Permanent(errors.New("boom"))
	}), redstream.StartID("0"), redstream.ClaimMinIdle(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	dead := func() int64 { n, _ := dlq.Len(ctx); return n }
	// Either it is dead-lettered, or the handler is called a second time.
	waitFor(t, 20*time.Second, "a dead letter or a second handler call", func() bool { return dead() == 1 || calls.Load() >= 2 })
	cons.Close()
	<-done
	if n := dead(); n != 1 {
		t.Fatalf("dead letters = %d after %d handler calls that failed permanently; want the entry dead-lettered after the first", n, calls.Load())
	}
}

// BatchError documents one element of Errs per entry, nil for those
// written; PublishTopicWait's must have one per event too, so that
// Errs[i] is event i's failure.
func TestPublishTopicWaitBatchErrorHasOneErrorPerEvent(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 10*time.Second)
	topic, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	var k0, k1 string // keys of partitions 0 and 1
	for i := 0; k0 == "" || k1 == ""; i++ {
		k := fmt.Sprint("k", i)
		switch topic.Partition(k) {
		case 0:
			k0 = k
		case 1:
			k1 = k
		}
	}
	srv.Do(t, "SET", topic.Stream(1), "not a stream")
	pub, _ := redstream.NewPublisher(c)
	rs, _, err := pub.PublishTopicWait(ctx, topic, 0, time.Second,
		redstream.KeyedEntry{Key: k0, Fields: oneField},
		redstream.KeyedEntry{Key: k1, Fields: oneField})
	var be *redstream.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("PublishTopicWait = %v, want a *BatchError", err)
	}
	if rs[0].ID == "" || rs[1].ID != "" {
		t.Fatalf("receipts %+v, want the first written and the second failed", rs)
	}
	if len(be.Errs) != 2 || be.Errs[0] != nil || be.Errs[1] == nil {
		t.Fatalf("BatchError.Errs = %v (%d elements for 2 events), want [nil, <event 1's error>]", be.Errs, len(be.Errs))
	}
}

// JoinHooks is the documented way to combine hooks; given a nil among
// them it must not make a Publisher that panics on its first publish:
// either the option is refused with ErrInvalidOption, or the nil is
// ignored.
func TestJoinHooksWithNilDoesNotPanic(t *testing.T) {
	c := dial(t, sharedRedis(t))
	pub, err := redstream.NewPublisher(c, redstream.WithPublishMetrics(redstream.JoinHooks(redstream.NopMetrics{}, nil)))
	if err != nil {
		if !errors.Is(err, redstream.ErrInvalidOption) {
			t.Fatalf("NewPublisher = %v, want nil or ErrInvalidOption", err)
		}
		return
	}
	defer func() {
		if v := recover(); v != nil {
			t.Fatalf("Publish through JoinHooks(NopMetrics{}, nil) panicked: %v", v)
		}
	}()
	if _, err := pub.Publish(ctxT(t, 5*time.Second), key(t, "s"), oneField); err != nil {
		t.Fatal(err)
	}
}

// countingTracer counts the publish calls it is told about.
type countingTracer struct {
	redstream.NopMetrics
	mu    sync.Mutex
	calls int
}

func (c *countingTracer) TracePublish(context.Context, *redstream.PublishCall) func([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return nil
}

// PublishTracer's doc: "it is called once for every publish call". A
// PublishTopicWait call refused for an invalid event is a publish call
// as much as PublishTopic's, which is traced (its span records the
// failure as error.type "invalid").
func TestTracePublishSeesEveryTopicPublishCall(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	topic, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	tr := &countingTracer{}
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(tr))
	bad := redstream.KeyedEntry{} // no key, no fields
	if _, err := pub.PublishTopic(ctx, topic, bad); !errors.Is(err, redstream.ErrNoFields) {
		t.Fatalf("PublishTopic = %v, want ErrNoFields", err)
	}
	if _, _, err := pub.PublishTopicWait(ctx, topic, 0, time.Second, bad); !errors.Is(err, redstream.ErrNoFields) {
		t.Fatalf("PublishTopicWait = %v, want ErrNoFields", err)
	}
	if tr.calls != 2 {
		t.Fatalf("TracePublish called %d times for 2 publish calls (PublishTopic, PublishTopicWait)", tr.calls)
	}
}
