package redstream_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// gate holds handlers once `after` calls have started, until opened: the
// test acts while a backlog is half consumed, whatever the machine's
// speed.
type gate struct {
	after int64
	calls atomic.Int64
	open  chan struct{}
	once  sync.Once
}

func newGate(after int64) *gate { return &gate{after: after, open: make(chan struct{})} }

func (g *gate) pass() {
	if g.calls.Add(1) > g.after {
		<-g.open
	}
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

const (
	goneBacklog = 20000
	goneAfter   = 5000
)

// TestConsumerGroupDestroyedMidBacklogLosesNothing: the group is
// destroyed while a backlog is being consumed; the consumer re-creates it
// after the last entry it was handed, so every entry is handled, and, as
// the only consumer, none twice.
//
// The consumer's StartID is "$": the group exists before it starts, so
// StartID matters only for the re-creation, where "$" would drop the rest
// of the backlog.
func TestConsumerGroupDestroyedMidBacklogLosesNothing(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, goneBacklog)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")

	g := newGate(goneAfter)
	t.Cleanup(g.release)
	var rec recorder
	var logs syncLog
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		g.pass()
		rec.add(m.ID)
		return nil
	}), redstream.StartID("$"), redstream.Concurrency(8), redstream.Block(100*time.Millisecond),
		redstream.RetryBackoff(time.Millisecond, 10*time.Millisecond), redstream.WithLogger(logs.logger()))
	runConsumer(t, cons)
	waitFor(t, 60*time.Second, "the handlers held mid-backlog", func() bool { return g.calls.Load() >= goneAfter+8 })
	srv.Do(t, "XGROUP", "DESTROY", stream, "g")
	g.release()

	waitFor(t, 120*time.Second, "every entry handled", func() bool { return rec.len() == len(ids) })
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Fatalf("entry %s handled %d times, want once (one consumer: nothing to repeat)", id, n)
		}
	}
	if !strings.Contains(logs.String(), "re-created it after the last entry this consumer was handed") {
		t.Errorf("the re-creation was not logged:\n%s", logs.String())
	}
}

// TestTopicGroupDestroyedMidBacklogLosesNothing is the same for a topic
// consumer: each partition's group is re-created after the last entry
// handed there.
func TestTopicGroupDestroyedMidBacklogLosesNothing(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 120*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	events := make([]redstream.KeyedEntry, goneBacklog)
	for i := range events {
		events[i] = redstream.KeyedEntry{Key: fmt.Sprint("k", i%64), Fields: redstream.Fields("seq", fmt.Sprint(i))}
	}
	receipts, err := p.PublishTopic(ctx, top, events...)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range top.Streams() {
		srv.Do(t, "XGROUP", "CREATE", s, "g", "0")
	}

	g := newGate(goneAfter)
	t.Cleanup(g.release)
	var rec recorder
	var logs syncLog
	tc, _ := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		g.pass()
		rec.add(m.Stream + " " + m.ID)
		return nil
	}), redstream.StartID("$"), redstream.Concurrency(8), redstream.Block(100*time.Millisecond), redstream.Name("solo"),
		redstream.RetryBackoff(time.Millisecond, 10*time.Millisecond), redstream.WithLogger(logs.logger()))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close(); <-done })
	waitFor(t, 60*time.Second, "the handlers held mid-backlog", func() bool { return g.calls.Load() >= goneAfter+8 })
	for _, s := range top.Streams() {
		srv.Do(t, "XGROUP", "DESTROY", s, "g")
	}
	g.release()

	waitFor(t, 120*time.Second, "every event handled", func() bool { return rec.len() == len(events) })
	for _, r := range receipts {
		k := top.Stream(r.Partition) + " " + r.ID
		if n := rec.count(k); n != 1 {
			t.Fatalf("event %s handled %d times, want once (one consumer: nothing to repeat)", k, n)
		}
	}
	if n := strings.Count(logs.String(), "re-created it after the last entry this consumer was handed"); n != 2 {
		t.Errorf("the re-creation was logged %d times, want once per partition:\n%s", n, logs.String())
	}
}
