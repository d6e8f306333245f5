package redstream_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// batchLog records what a batch handler was given.
type batchLog struct {
	mu      sync.Mutex
	sizes   []int
	handled map[string]int // entry ID -> times in a batch
	order   []string
}

func newBatchLog() *batchLog { return &batchLog{handled: map[string]int{}} }

func (l *batchLog) record(msgs []*redstream.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sizes = append(l.sizes, len(msgs))
	for _, m := range msgs {
		l.handled[m.ID]++
		l.order = append(l.order, m.ID)
	}
}

func (l *batchLog) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.handled[id]
}

func TestBatchConsumerHandlesEverythingInBatchesInOrder(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 95)
	log := newBatchLog()
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		log.record(msgs)
		return nil
	})
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.BatchSize(10))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "every entry acked", func() bool { return cons.Stats().Acked == int64(len(ids)) })
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if !slices.Equal(log.order, ids) {
		t.Fatalf("handled %d entries, not each once in ID order", len(log.order))
	}
	for _, n := range log.sizes {
		if n < 1 || n > 10 {
			t.Fatalf("batch sizes %v: want 1..10", log.sizes)
		}
	}
	if len(log.sizes) >= len(ids) {
		t.Fatalf("%d batches for %d entries: entries were not batched", len(log.sizes), len(ids))
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
}

func TestBatchWaitFillsTheBatch(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	log := newBatchLog()
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		log.record(msgs)
		return nil
	})
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.BatchSize(6), redstream.BatchWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	<-cons.Ready()
	// Three entries, then three more while the first batch waits to fill:
	// one batch of six, though no single read returned six.
	publishN(t, c, stream, 3)
	waitFor(t, 10*time.Second, "the first entries read", func() bool {
		return pendingCount(t, c, stream, "g") == 3
	})
	publishN(t, c, stream, 3)
	waitFor(t, 10*time.Second, "a batch handled", func() bool { return cons.Stats().Acked == 6 })
	cons.Shutdown(ctxT(t, 10*time.Second))
	<-done
	log.mu.Lock()
	defer log.mu.Unlock()
	if !slices.Equal(log.sizes, []int{6}) {
		t.Fatalf("batch sizes %v, want one batch of 6", log.sizes)
	}
}

// A batch handler fails single entries: only those are retried or
// dead-lettered, each counting its own deliveries; the rest are acked.
func TestBatchPartialFailureRetriesAndDeadLettersOnlyThoseEntries(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 20)
	flaky, poison, hopeless := ids[3], ids[7], ids[11] // fails once; permanently; always
	log := newBatchLog()
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		log.record(msgs)
		var failed redstream.MessageErrors
		for _, m := range msgs {
			switch {
			case m.ID == flaky && m.Deliveries == 1:
				failed.Fail(m, errors.New("not yet"))
			case m.ID == poison:
				failed.Fail(m, redstream.Permanent(errors.New("poison")))
			case m.ID == hopeless:
				failed.Fail(m, errors.New("never"))
			}
		}
		return failed.Err()
	})
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"),
		redstream.MaxDeliveries(3), redstream.RetryBackoff(5*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "all settled", func() bool {
		s := cons.Stats()
		return s.DeadLettered == 2 && s.Handled == 18 && pendingCount(t, c, stream, "g") == 0
	})
	cons.Shutdown(ctxT(t, 10*time.Second))
	<-done
	for i, id := range ids {
		want := 1
		switch id {
		case flaky:
			want = 2
		case hopeless:
			want = 3
		}
		if got := log.count(id); got != want {
			t.Errorf("entry %d (%s) in %d batches, want %d", i, id, got, want)
		}
	}
	dead := deadOriginals(t, c, stream, redstream.DeadLetterKey(stream))
	want := []string{poison, hopeless}
	slices.Sort(want)
	if !slices.Equal(dead, want) {
		t.Fatalf("dead letters of %v, want %v", dead, want)
	}
	q, _ := redstream.NewDeadLetterQueue(c, stream, "")
	letters, _ := q.List(ctxT(t, 5*time.Second), "-", "+", 10)
	for _, d := range letters {
		if d.OriginalID == hopeless && (d.Deliveries != 3 || d.Error != "never") {
			t.Errorf("dead letter %+v, want 3 deliveries and the entry's own error", d)
		}
		if d.OriginalID == poison && (d.Deliveries != 1 || d.Error != "poison") {
			t.Errorf("dead letter %+v, want 1 delivery and the entry's own error", d)
		}
	}
}

// An error that names no entry, or a panic, fails the whole batch.
func TestBatchErrorOrPanicFailsTheWholeBatch(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 8)
	var mu sync.Mutex
	calls, failing := 0, 0 // entries in the batches that failed
	var panicked *redstream.PanicError
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		mu.Lock()
		calls++
		n := calls
		if n <= 2 {
			failing += len(msgs)
		}
		mu.Unlock()
		switch n {
		case 1:
			return errors.New("down")
		case 2:
			panic("boom")
		}
		return nil
	})
	var seen sync.Map
	metrics := outcomeMetrics{seen: &seen}
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.BatchSize(100),
		redstream.RetryBackoff(5*time.Millisecond, 5*time.Millisecond), redstream.WithMetrics(metrics),
		redstream.WithLogger(panicLogger(&mu, &panicked)))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "all acked", func() bool { return cons.Stats().Acked == int64(len(ids)) })
	cons.Shutdown(ctxT(t, 10*time.Second))
	<-done
	mu.Lock()
	defer mu.Unlock()
	s := cons.Stats()
	if failing <= len(ids) || s.Failed != int64(failing) || s.Handled != int64(len(ids)) {
		t.Fatalf("stats %+v: want all %d entries of the two failed batches failed, then all %d handled", s, failing, len(ids))
	}
	if v, _ := seen.Load(redstream.OutcomeRetry); v != failing {
		t.Fatalf("metrics saw %v retries, want %d", v, failing)
	}
	if panicked == nil || len(panicked.Stack) == 0 {
		t.Fatalf("no PanicError with a stack was logged: %v", panicked)
	}
}

// outcomeMetrics counts handler outcomes per entry.
type outcomeMetrics struct {
	redstream.NopMetrics
	seen *sync.Map
}

var outcomeMu sync.Mutex

func (m outcomeMetrics) Handled(stream, group string, o redstream.Outcome, took time.Duration) {
	outcomeMu.Lock()
	defer outcomeMu.Unlock()
	n, _ := m.seen.Load(o)
	v, _ := n.(int)
	m.seen.Store(o, v+1)
}

// A batch consumer that dies with a batch in hand leaves its entries
// pending; another batch consumer of the group takes them over.
func TestBatchConsumerTakesOverADeadBatchConsumersEntries(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 30)
	started := make(chan struct{})
	var once sync.Once
	stuck := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		once.Do(func() { close(started) })
		<-ctx.Done() // dies holding the batch
		return ctx.Err()
	})
	dead, err := redstream.NewBatchConsumer(c, stream, "g", stuck, redstream.Name("dead"), redstream.StartID("0"), redstream.BatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	deadDone := runConsumer(t, dead)
	<-started
	dead.Close()
	<-deadDone
	if n := pendingCount(t, c, stream, "g"); n != int64(len(ids)) {
		t.Fatalf("%d pending after the consumer died, want %d", n, len(ids))
	}
	log := newBatchLog()
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		log.record(msgs)
		return nil
	})
	heir, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.Name("heir"),
		redstream.ClaimMinIdle(100*time.Millisecond), redstream.ClaimInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, heir)
	waitFor(t, 20*time.Second, "the dead consumer's entries handled", func() bool {
		return heir.Stats().Acked == int64(len(ids)) && pendingCount(t, c, stream, "g") == 0
	})
	heir.Shutdown(ctxT(t, 10*time.Second))
	<-done
	for _, id := range ids {
		if log.count(id) != 1 {
			t.Fatalf("entry %s handled %d times by the heir", id, log.count(id))
		}
	}
	if heir.Stats().Reclaimed != int64(len(ids)) {
		t.Fatalf("reclaimed %d, want %d", heir.Stats().Reclaimed, len(ids))
	}
}

// Shutdown while a batch runs waits for it and acknowledges it.
func TestShutdownWaitsForTheRunningBatch(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 12)
	running := make(chan int, 1)
	release := make(chan struct{})
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		running <- len(msgs)
		<-release
		return ctx.Err() // the handlers' context is not canceled by Shutdown
	})
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.BatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	n := <-running
	if n != len(ids) {
		t.Fatalf("batch of %d, want %d", n, len(ids))
	}
	shut := make(chan error, 1)
	go func() { shut <- cons.Shutdown(ctxT(t, 20*time.Second)) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while the batch was running", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := cons.Stats(); s.Handled != int64(len(ids)) || s.Acked != int64(len(ids)) {
		t.Fatalf("stats %+v after Shutdown, want all %d handled and acked", s, len(ids))
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
}

func TestBatchOptions(t *testing.T) {
	c := dial(t, sharedRedis(t))
	h := redstream.BatchHandlerFunc(func(context.Context, []*redstream.Message) error { return nil })
	if _, err := redstream.NewBatchConsumer(c, "s", "g", nil); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("nil batch handler: %v", err)
	}
	if _, err := redstream.NewBatchConsumer(c, "s", "g", h, redstream.BatchWait(-time.Second)); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("negative BatchWait: %v", err)
	}
	one := redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil })
	if _, err := redstream.NewConsumer(c, "s", "g", one, redstream.BatchWait(time.Second)); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("BatchWait on a Consumer of single messages: %v", err)
	}
	if _, err := redstream.NewBatchConsumer(c, "s", "g", h, redstream.BatchSize(5), redstream.BatchWait(time.Second), redstream.Concurrency(2)); err != nil {
		t.Errorf("valid batch options: %v", err)
	}
}

// panicLogger is a logger that keeps the last PanicError logged.
func panicLogger(mu *sync.Mutex, into **redstream.PanicError) *slog.Logger {
	return slog.New(errCapture{func(err error) {
		var pe *redstream.PanicError
		if errors.As(err, &pe) {
			mu.Lock()
			*into = pe
			mu.Unlock()
		}
	}})
}

// errCapture is a slog handler that passes every logged error to f.
type errCapture struct{ f func(error) }

func (h errCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h errCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h errCapture) WithGroup(string) slog.Handler            { return h }
func (h errCapture) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			h.f(err)
		}
		return true
	})
	return nil
}

// Under load, acks ride along with reads; when those XACKs fail, the IDs
// must be sent again later, or the entries stay pending for good.
func TestAcksThatRideWithReadsAreRetriedWhenTheyFail(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 3000)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")
	srv.Do(t, "ACL", "SETUSER", "default", "-xack")
	cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }), redstream.Concurrency(16))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cons)
	waitFor(t, 20*time.Second, "every entry handled while XACK is denied", func() bool { return cons.Stats().Handled == 3000 })
	if p := pendingCount(t, c, stream, "g"); p != 3000 {
		t.Fatalf("pending = %d while XACK is denied, want 3000", p)
	}
	srv.Do(t, "ACL", "SETUSER", "default", "+xack")
	waitFor(t, 20*time.Second, "the failed acks sent again", func() bool { return pendingCount(t, c, stream, "g") == 0 })
	waitFor(t, 10*time.Second, "3000 acks confirmed", func() bool { return cons.Stats().Acked == 3000 })
}

// With one handler and two streams, only one entry is in hand at a time,
// and an idle stream's reader does not keep the other stream from being
// read: the readers take turns.
func TestStreamsShareTheHandlersFairly(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	var running, most atomic.Int64
	var handled sync.Map
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			old := most.Load()
			if n <= old || most.CompareAndSwap(old, n) {
				break
			}
		}
		handled.Store(m.Stream+" "+m.ID, true)
		return nil
	})
	cons, err := redstream.NewConsumer(c, "a", "g", h, redstream.AlsoStreams("b"), redstream.Concurrency(1), redstream.Block(200*time.Millisecond), redstream.Name("w"))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cons)
	<-cons.Ready()
	ids := publishN(t, c, "b", 5)
	waitFor(t, 10*time.Second, "stream b's entries handled while stream a is idle", func() bool {
		for _, id := range ids {
			if _, ok := handled.Load("b " + id); !ok {
				return false
			}
		}
		return true
	})
	aIDs := publishN(t, c, "a", 5)
	waitFor(t, 10*time.Second, "stream a's entries handled while stream b is idle", func() bool {
		for _, id := range aIDs {
			if _, ok := handled.Load("a " + id); !ok {
				return false
			}
		}
		return true
	})
	if m := most.Load(); m != 1 {
		t.Fatalf("%d handlers ran at once with Concurrency(1)", m)
	}
}

// A consumer reads no more entries than it has idle handlers for: the
// rest stay with the group for other consumers.
func TestConsumerHoldsNoMoreEntriesThanHandlers(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 20)
	release := make(chan struct{})
	defer close(release)
	var running atomic.Int64
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		running.Add(1)
		<-release
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Concurrency(3), redstream.Name("w"))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "3 handlers running", func() bool { return running.Load() == 3 })
	// Watch a while: a reader that reads beyond its idle handlers does so
	// at once; one that does not never will.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := pendingCount(t, c, stream, "g"); n > 3 {
			t.Fatalf("%d entries delivered to a consumer with 3 busy handlers", n)
		}
	}
}
