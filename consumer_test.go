package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

func TestRoundTripHandlesEverythingAndLeavesNothingPending(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream, group := key(t, "s"), "g"
	const n = 5000
	ids := publishN(t, c, stream, n)

	var mu sync.Mutex
	seen := make(map[string]int)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		seen[m.ID]++
		mu.Unlock()
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 30*time.Second, "all entries handled", func() bool { return cons.Stats().Handled == n })
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("entry %s handled %d times, want 1", id, seen[id])
		}
	}
	if got := pendingCount(t, c, stream, group); got != 0 {
		t.Fatalf("pending after shutdown = %d, want 0", got)
	}
	if st := cons.Stats(); st.Acked != n {
		t.Fatalf("acked = %d, want %d", st.Acked, n)
	}
}

func TestConcurrencyReachesButNeverExceedsTheSetting(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	const limit, n = 8, 200
	publishN(t, c, stream, n)
	var running, peak, total atomic.Int64
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		now := running.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		total.Add(1)
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Concurrency(limit))
	if err != nil {
		t.Fatal(err)
	}
	go cons.Run(context.Background())
	defer cons.Close()
	waitFor(t, 30*time.Second, "all handled", func() bool { return total.Load() == n })
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrent handlers = %d, want exactly %d", p, limit)
	}
}

// collector records which entries handlers saw, by consumer.
type collector struct {
	mu   sync.Mutex
	seen map[string]int
	by   map[string]int
}

func newCollector() *collector {
	return &collector{seen: map[string]int{}, by: map[string]int{}}
}

func (c *collector) handler(name string, work time.Duration) redstream.Handler {
	return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if work > 0 {
			time.Sleep(work)
		}
		c.mu.Lock()
		c.seen[m.ID]++
		c.by[name]++
		c.mu.Unlock()
		return nil
	})
}

func (c *collector) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.seen {
		n += v
	}
	return n
}

func runConsumer(t *testing.T, cons *redstream.Consumer) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	t.Cleanup(func() { cons.Close() })
	return done
}

func TestConsumersOfOneGroupShareTheWorkWithoutDuplicates(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream, group := key(t, "s"), "g"
	col := newCollector()
	var cons []*redstream.Consumer
	for i := range 3 {
		name := fmt.Sprintf("c%d", i)
		cn, err := redstream.NewConsumer(c, stream, group, col.handler(name, time.Millisecond), redstream.Name(name), redstream.Concurrency(4))
		if err != nil {
			t.Fatal(err)
		}
		cons = append(cons, cn)
	}
	// Create the group before publishing so that every consumer starts at
	// the same point.
	srv.Do(t, "XGROUP", "CREATE", stream, group, "$", "MKSTREAM")
	var dones []<-chan error
	for _, cn := range cons {
		dones = append(dones, runConsumer(t, cn))
	}
	const n = 1500
	ids := publishN(t, c, stream, n)
	waitFor(t, 60*time.Second, "all handled", func() bool { return col.total() >= n })
	for _, cn := range cons {
		if err := cn.Shutdown(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range dones {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		if col.seen[id] != 1 {
			t.Fatalf("entry %s handled %d times, want exactly once", id, col.seen[id])
		}
	}
	for name, got := range col.by {
		if got == 0 {
			t.Errorf("consumer %s got no share", name)
		}
	}
	if len(col.by) != 3 {
		t.Fatalf("only %d of 3 consumers handled entries: %v", len(col.by), col.by)
	}
	if p := pendingCount(t, c, stream, group); p != 0 {
		t.Fatalf("pending = %d, want 0", p)
	}
	t.Logf("shares: %v", col.by)
}

func TestShutdownFinishesAndAcksInFlightHandlersAndLeaksNothing(t *testing.T) {
	// A server of its own: the test watches its blocked clients.
	srv := redstreamtest.StartRedis(t)
	snapshot := goleak.IgnoreCurrent()
	c, err := redstream.Dial(ctxT(t, 5*time.Second), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	stream, group := key(t, "s"), "g"
	publishN(t, c, stream, 10)
	release := make(chan struct{})
	var finished atomic.Int64
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		<-release
		time.Sleep(20 * time.Millisecond)
		finished.Add(1)
		return nil
	})
	// One handler slot more than there are entries: with the 10 handlers
	// in flight, the reader waits in a blocking read (which nothing else
	// ends for a minute) that Shutdown must interrupt.
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.StartID("0"), redstream.Concurrency(11),
		redstream.Block(time.Minute), redstream.ClaimInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "10 handlers in flight and the reader in a blocked read", func() bool {
		return cons.Stats().InFlight == 10 && blockedClients(t, c) == 1
	})

	shut := make(chan error, 1)
	go func() { shut <- cons.Shutdown(ctxT(t, 30*time.Second)) }()
	waitFor(t, 10*time.Second, "Shutdown to interrupt the blocked read", func() bool { return blockedClients(t, c) == 0 })
	// Entries added while Shutdown waits for the handlers are left unread.
	publishN(t, c, stream, 90)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while its 10 handlers were still running", err)
	default:
	}
	if st := cons.Stats(); st.InFlight != 10 || st.Handled != 0 {
		t.Fatalf("stats %+v during Shutdown, want the 10 handlers still in flight", st)
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := cons.Stats()
	if finished.Load() != 10 || st.Handled != 10 || st.Acked != 10 || st.InFlight != 0 {
		t.Fatalf("after shutdown: finished %d, stats %+v; want the 10 in-flight handled and acked", finished.Load(), st)
	}
	if p := pendingCount(t, c, stream, group); p != 0 {
		t.Fatalf("pending = %d after graceful shutdown, want 0 (no hoarded entries)", p)
	}
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 5*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	if lag := info.Groups[0].Lag; lag == nil || *lag != 90 {
		t.Fatalf("lag = %v, want the 90 entries added during Shutdown left for others", lag)
	}
	if err := cons.Run(context.Background()); !errors.Is(err, redstream.ErrClosed) {
		t.Fatalf("Run after Shutdown = %v, want ErrClosed", err)
	}
	if err := cons.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown = %v, want nil", err)
	}
	c.Close()
	goleak.VerifyNone(t, snapshot)
}

func TestContextCancelIsAGracefulShutdown(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 20)
	started := make(chan struct{}, 20)
	canceled := make(chan struct{})
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		started <- struct{}{}
		<-canceled // still running when Run's ctx ends
		select {
		case <-ctx.Done():
			return ctx.Err() // the handler's context must stay alive
		case <-time.After(100 * time.Millisecond): // the rest of its work
			return nil
		}
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Concurrency(5))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no handler started")
	}
	cancel()
	close(canceled)
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	st := cons.Stats()
	if st.Failed != 0 || st.Handled == 0 || st.Acked != st.Handled {
		t.Fatalf("stats %+v: in-flight handlers must finish with a live context and be acked", st)
	}
	if p := pendingCount(t, c, stream, "g"); p != 0 {
		t.Fatalf("pending = %d, want 0", p)
	}
}

func TestCloseCancelsHandlersAndLeavesTheirEntriesPending(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 3)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		<-ctx.Done()
		return ctx.Err()
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "3 in flight", func() bool { return cons.Stats().InFlight == 3 })
	cons.Close()
	cons.Close() // idempotent
	select {
	case err := <-done:
		if !errors.Is(err, redstream.ErrClosed) {
			t.Fatalf("Run after Close = %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if p := pendingCount(t, c, stream, "g"); p != 3 {
		t.Fatalf("pending = %d, want the 3 unfinished entries", p)
	}
}

func TestStableNameResumesItsPendingEntriesOnRestart(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream, group := key(t, "s"), "g"
	ids := publishN(t, c, stream, 50)

	fail := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		return errors.New("downstream unavailable")
	})
	first, _ := redstream.NewConsumer(c, stream, group, fail, redstream.Name("worker-1"), redstream.StartID("0"), redstream.RetryBackoff(time.Hour, time.Hour))
	done := runConsumer(t, first)
	waitFor(t, 10*time.Second, "50 failures", func() bool { return first.Stats().Failed == 50 })
	first.Shutdown(ctxT(t, 5*time.Second))
	<-done
	if p := pendingCount(t, c, stream, group); p != 50 {
		t.Fatalf("pending = %d after failures, want 50", p)
	}
	// Delete one pending entry's data: the restart must clean it up, not loop.
	srv.Do(t, "XDEL", stream, ids[7])

	var mu sync.Mutex
	got := map[string]int{}
	ok := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		got[m.ID] = m.Deliveries
		mu.Unlock()
		return nil
	})
	second, _ := redstream.NewConsumer(c, stream, group, ok, redstream.Name("worker-1"))
	done = runConsumer(t, second)
	waitFor(t, 10*time.Second, "49 resumed", func() bool { return second.Stats().Handled == 49 })
	second.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for i, id := range ids {
		if i == 7 {
			if _, seen := got[id]; seen {
				t.Fatalf("deleted entry %s was handed to the handler", id)
			}
			continue
		}
		if got[id] != 2 {
			t.Fatalf("entry %s resumed with Deliveries=%d, want 2", id, got[id])
		}
	}
	if p := pendingCount(t, c, stream, group); p != 0 {
		t.Fatalf("pending = %d after resume, want 0 (the deleted entry cleaned up too)", p)
	}
}

func TestEntriesFromOtherProducersArriveAsWritten(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "tickets")
	// What the seed's go-redis publisher and redis-cli write: plain XADD.
	srv.Do(t, "XADD", stream, "*", "whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data")
	srv.Do(t, "XADD", stream, "*", "unexpected", "shape", "unexpected", "twice", "emoji", "🎫", "empty", "")
	var mu sync.Mutex
	var msgs []*redstream.Message
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "tickets-consumer-group", h, redstream.StartID("0"), redstream.Concurrency(1))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "2 handled", func() bool { return cons.Stats().Acked == 2 })
	mu.Lock()
	defer mu.Unlock()
	if want := redstream.Fields("whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data"); !reflect.DeepEqual(msgs[0].Fields, want) {
		t.Errorf("seed entry fields = %v, want %v", msgs[0].Fields, want)
	}
	if msgs[0].Stream != stream || msgs[0].Deliveries != 1 {
		t.Errorf("seed entry stream %q deliveries %d", msgs[0].Stream, msgs[0].Deliveries)
	}
	if want := redstream.Fields("unexpected", "shape", "unexpected", "twice", "emoji", "🎫", "empty", ""); !reflect.DeepEqual(msgs[1].Fields, want) {
		t.Errorf("odd entry fields = %v, want %v", msgs[1].Fields, want)
	}
	if _, ok := msgs[1].Get("whatHappened"); ok {
		t.Error("Get reported a field the entry does not have")
	}
}

func TestConsumerOnKeyOfAnotherTypeFailsClearly(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "SET", stream, "oops")
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }))
	err := cons.Run(ctxT(t, 10*time.Second))
	if !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("Run on a string key = %v, want ErrNotStream", err)
	}
	if !strings.Contains(err.Error(), stream) {
		t.Errorf("error %q does not name the key", err)
	}
}

func TestConsumerCreatesAMissingStream(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	missing := key(t, "missing")
	col := newCollector()
	cons, _ := redstream.NewConsumer(c, missing, "g", col.handler("a", 0))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "stream and group created", func() bool {
		n, _ := srv.Do(t, "XINFO", "GROUPS", missing).ToArray()
		return len(n) == 1
	})
	publishN(t, c, missing, 10)
	waitFor(t, 10*time.Second, "10 handled", func() bool { return col.total() == 10 })
}

func TestConsumerJoinsAnExistingGroupWhereItStands(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	// The group already exists and has read the first 4 entries.
	srv.Do(t, "XGROUP", "CREATE", stream, "g", ids[3])
	col := newCollector()
	cons, _ := redstream.NewConsumer(c, stream, "g", col.handler("a", 0), redstream.StartID("0"))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "6 handled", func() bool { return col.total() == 6 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	if err := <-done; err != nil {
		t.Fatalf("Run on an existing group = %v", err)
	}
	if col.total() != 6 {
		t.Fatalf("handled %d, want 6: an existing group must not be moved by StartID", col.total())
	}
}

func TestConsumerRecreatesADeletedGroup(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	col := newCollector()
	cons, _ := redstream.NewConsumer(c, stream, "g", col.handler("a", 0), redstream.Block(50*time.Millisecond))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "group created", func() bool {
		n, _ := srv.Do(t, "XINFO", "GROUPS", stream).ToArray()
		return len(n) == 1
	})
	srv.Do(t, "XGROUP", "DESTROY", stream, "g")
	waitFor(t, 10*time.Second, "group re-created", func() bool {
		n, _ := srv.Do(t, "XINFO", "GROUPS", stream).ToArray()
		return len(n) == 1
	})
	publishN(t, c, stream, 5)
	waitFor(t, 10*time.Second, "5 handled after re-creation", func() bool { return col.total() == 5 })
}

func TestPanickingHandlerDoesNotStopTheOthers(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 100)
	poison := ids[42]
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.ID == poison {
			panic("poison")
		}
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.RetryBackoff(time.Hour, time.Hour))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "99 handled", func() bool { return cons.Stats().Acked == 99 })
	if st := cons.Stats(); st.Failed != 1 {
		t.Fatalf("failed = %d, want the 1 panic", st.Failed)
	}
	rows, _ := srv.Do(t, "XPENDING", stream, "g", "-", "+", "10").ToArray()
	if len(rows) != 1 {
		t.Fatalf("pending rows = %d, want only the panicking entry", len(rows))
	}
	if id, _ := rows[0].ToArray(); len(id) == 0 {
		t.Fatal("bad XPENDING row")
	} else if s, _ := id[0].ToString(); s != poison {
		t.Fatalf("pending entry %s, want the poison %s", s, poison)
	}
}

func TestConsumerLifecycleErrors(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	h := redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil })
	for name, opts := range map[string][]redstream.ConsumerOption{
		"concurrency 0":  {redstream.Concurrency(0)},
		"empty name":     {redstream.Name("")},
		"block 0":        {redstream.Block(0)},
		"bad start id":   {redstream.StartID("yesterday")},
		"duplicate":      {redstream.AlsoStreams(key(t, "s"))},
		"nil logger":     {redstream.WithLogger(nil)},
		"ack batch zero": {redstream.AckBatch(0)},
	} {
		if _, err := redstream.NewConsumer(c, key(t, "s"), "g", h, opts...); !errors.Is(err, redstream.ErrInvalidOption) {
			t.Errorf("%s: error = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := redstream.NewConsumer(c, "", "g", h); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("empty stream: %v", err)
	}
	if _, err := redstream.NewConsumer(c, "s", "g", nil); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("nil handler: %v", err)
	}
	cons, _ := redstream.NewConsumer(c, key(t, "s"), "g", h, redstream.Block(20*time.Millisecond))
	done := runConsumer(t, cons)
	waitFor(t, 5*time.Second, "running", func() bool {
		n, _ := srv.Do(t, "XINFO", "GROUPS", key(t, "s")).ToArray()
		return len(n) == 1
	})
	if err := cons.Run(context.Background()); !errors.Is(err, redstream.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done

	never, _ := redstream.NewConsumer(c, key(t, "s"), "g", h)
	if err := never.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown before Run = %v", err)
	}
	if err := never.Run(context.Background()); !errors.Is(err, redstream.ErrClosed) {
		t.Fatalf("Run after Shutdown = %v, want ErrClosed", err)
	}
}

func TestConsumerReadsSeveralStreams(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	a, b := key(t, "a"), key(t, "b")
	col := newCollector()
	var mu sync.Mutex
	streams := map[string]int{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		streams[m.Stream]++
		mu.Unlock()
		return col.handler("x", 0).Handle(ctx, m)
	})
	cons, _ := redstream.NewConsumer(c, a, "g", h, redstream.AlsoStreams(b), redstream.StartID("0"))
	publishN(t, c, a, 30)
	publishN(t, c, b, 20)
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "50 handled", func() bool { return cons.Stats().Acked == 50 })
	mu.Lock()
	defer mu.Unlock()
	if streams[a] != 30 || streams[b] != 20 {
		t.Fatalf("per stream %v, want 30 and 20", streams)
	}
}

func TestShutdownHandlesEntriesDeliveredToItButNotYetSeen(t *testing.T) {
	// A read interrupted by Shutdown may have been answered by the server
	// already: those entries sit in the consumer's pending list unseen.
	// Shutdown must handle them, not strand them until a restart.
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0", "MKSTREAM")
	ids := publishN(t, c, stream, 8)
	srv.Do(t, "XREADGROUP", "GROUP", "g", "other", "COUNT", "8", "STREAMS", stream, ">")
	col := newCollector()
	cons, _ := redstream.NewConsumer(c, stream, "g", col.handler("w", 0), redstream.Name("w"))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "consumer reading", func() bool {
		n, _ := srv.Do(t, "CLIENT", "LIST").ToString()
		return strings.Contains(n, "cmd=xreadgroup")
	})
	srv.Do(t, "XCLAIM", stream, "g", "w", "0", ids[5], ids[6], ids[7])
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-done
	for _, id := range ids[5:] {
		if col.seen[id] != 1 {
			t.Fatalf("entry %s in the consumer's pending list was not handled at shutdown", id)
		}
	}
	if p := pendingCount(t, c, stream, "g"); p != 5 {
		t.Fatalf("pending = %d, want only the other consumer's 5", p)
	}
}

// readErrors counts the failed reads a consumer reports.
type readErrors struct {
	redstream.NopMetrics
	n atomic.Int64
}

func (m *readErrors) ReadError(string, string, error) { m.n.Add(1) }

func TestStoppingWhileRedisIsDownDoesNotHang(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	var reads readErrors
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.WithMetrics(&reads))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	// Killed while the consumer waits in its blocking read, which then
	// fails.
	waitFor(t, 10*time.Second, "the consumer in its blocking read", func() bool { return blockedClients(t, c) == 1 })
	srv.Kill()
	waitFor(t, 10*time.Second, "the consumer to fail reading from the killed server", func() bool { return reads.n.Load() > 0 })
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while Redis was down, before the stop", err)
	default:
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after a graceful stop with Redis down", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after ctx was canceled while Redis was down")
	}
}

// aclDenials returns how often the server refused command to a client
// for lack of permission, from ACL LOG.
func aclDenials(t *testing.T, srv *redstreamtest.Server, command string) int64 {
	t.Helper()
	rows, err := srv.Do(t, "ACL", "LOG").ToArray()
	if err != nil {
		t.Fatalf("acl log: %v", err)
	}
	var n int64
	for _, r := range rows {
		m, err := r.AsMap()
		if err != nil {
			t.Fatalf("acl log entry: %v", err)
		}
		obj, count := m["object"], m["count"]
		if name, _ := obj.ToString(); name == command {
			c, _ := count.AsInt64()
			n += c
		}
	}
	return n
}

func TestFailedAcksAreRetriedWithoutNewTraffic(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.AckBatch(1), redstream.StartID("0"))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "group created", func() bool {
		n, _ := srv.Do(t, "XINFO", "GROUPS", stream).ToArray()
		return len(n) == 1
	})
	srv.Do(t, "ACL", "SETUSER", "default", "-xack")
	publishN(t, c, stream, 1)
	waitFor(t, 10*time.Second, "handled", func() bool { return cons.Stats().Handled == 1 })
	// Refused twice: sent, and sent again with no new entry to prompt it.
	waitFor(t, 10*time.Second, "the XACK refused and retried", func() bool { return aclDenials(t, srv, "xack") >= 2 })
	if p := pendingCount(t, c, stream, "g"); p != 1 {
		t.Fatalf("pending = %d while XACK is denied, want 1", p)
	}
	if a := cons.Stats().Acked; a != 0 {
		t.Fatalf("acked = %d while XACK is denied, want 0", a)
	}
	srv.Do(t, "ACL", "SETUSER", "default", "+xack")
	waitFor(t, 15*time.Second, "the failed ack retried", func() bool { return pendingCount(t, c, stream, "g") == 0 })
	waitFor(t, 5*time.Second, "the ack counted", func() bool { return cons.Stats().Acked == 1 })
}

// A due retry must not wait for the reader's blocked read to time out:
// with Block at its one-minute maximum, no claim walk to cut it short and
// one handler, five entries that fail once, whose retries fall due while
// the reader waits in that read, must still be retried promptly (the
// reader is woken).
func TestRetriesDoNotWaitForTheBlockedRead(t *testing.T) {
	// A server of its own: the test watches its blocked clients.
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 5)
	var mu sync.Mutex
	failed := map[string]bool{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if !failed[m.ID] {
			failed[m.ID] = true
			return errors.New("first try fails")
		}
		return nil
	})
	// Retries fall due 2 to 4 s after each failure: time for the reader to
	// settle in its blocked read first.
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Concurrency(1),
		redstream.Block(time.Minute), redstream.ClaimInterval(time.Hour), redstream.RetryBackoff(4*time.Second, 4*time.Second))
	runConsumer(t, cons)
	select {
	case <-cons.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("Ready never closed")
	}
	waitFor(t, 10*time.Second, "5 first tries failed and the reader in a blocked read", func() bool {
		return cons.Stats().Failed == 5 && blockedClients(t, c) == 1
	})
	if st := cons.Stats(); st.Retried != 0 {
		t.Fatalf("stats %+v: retries ran before the reader blocked; the case of a due retry and a blocked read was not reached", st)
	}
	began := time.Now()
	waitFor(t, 20*time.Second, "all 5 retried and acked well before the blocked read ends", func() bool { return cons.Stats().Acked == 5 })
	if st := cons.Stats(); st.Retried != 5 {
		t.Fatalf("stats %+v, want 5 retries", st)
	}
	t.Logf("retried and acked in %v, with the read blocked for up to a minute", time.Since(began).Round(time.Millisecond))
}
