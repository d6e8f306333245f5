// Tests of the consumer core's room, queue and ack handling, each pinning
// a bug found in review (see the comment above each test).
package redstream

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/redstreamtest"
)

// blockedOn returns INFO clients' blocked_clients.
func blockedOn(t *testing.T, srv *redstreamtest.Server) int {
	t.Helper()
	s, err := srv.Do(t, "INFO", "clients").ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "blocked_clients:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

func runInternal(t *testing.T, c *Consumer) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() { done <- c.Run(context.Background()); close(ended) }()
	t.Cleanup(func() {
		c.Close()
		select {
		case <-ended:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after Close")
		}
	})
	select {
	case <-c.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	return done
}

// consumerPending is XPENDING's per-consumer count.
func consumerPending(t *testing.T, srv *redstreamtest.Server, stream, group, name string) int {
	t.Helper()
	rows, err := srv.Do(t, "XPENDING", stream, group, "-", "+", "1000", name).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// workQueue: while the queue never runs empty, q.head only grows and
// append keeps copying the consumed prefix: the array grows with every job
// ever queued.
func TestWorkQueueStaysSmallWhileNeverEmpty(t *testing.T) {
	q := newWorkQueue()
	m := &Message{ID: "1-0"}
	q.pushMessages([]*Message{m})
	for range 1 << 20 {
		q.pushMessages([]*Message{m})
		if _, ok := q.pop(); !ok {
			t.Fatal("pop failed")
		}
	}
	if n := len(q.jobs) - q.head; n != 1 {
		t.Fatalf("queued %d, want 1", n)
	}
	if c := cap(q.jobs); c > 4096 {
		t.Fatalf("queue never held more than 2 jobs, but its array has len %d cap %d (%d bytes)", len(q.jobs), c, c*32)
	}
}

// lowWater: with more than half the handlers busy, the reader does not
// read at all, and idle handlers stay idle while entries wait.
func TestAnIdleHandlerIsUsedWhileTheOthersAreBusy(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	release := make(chan struct{})
	var slow, fast atomic.Int64
	h := HandlerFunc(func(ctx context.Context, m *Message) error {
		if v, _ := m.Get("kind"); v == "slow" {
			slow.Add(1)
			<-release
			return nil
		}
		fast.Add(1)
		return nil
	})
	cons, err := NewConsumer(c, "s", "g", h, Concurrency(4), Block(100*time.Millisecond), StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	defer close(release)
	for range 3 {
		srv.Do(t, "XADD", "s", "*", "kind", "slow")
	}
	waitInternal(t, 5*time.Second, "3 slow running", func() bool { return slow.Load() == 3 })
	for range 3 {
		srv.Do(t, "XADD", "s", "*", "kind", "fast")
	}
	time.Sleep(2 * time.Second)
	if n := fast.Load(); n < 3 {
		t.Fatalf("%d of 3 quick entries handled in 2s, with 1 of 4 handlers idle all along", n)
	}
}

// handleDeliveredAtStop lists this consumer's whole pending list when no
// new entry was read (lastSeen ""), and re-claims entries whose handler
// already succeeded but whose XACK still waits in the acker.
func TestShutdownDoesNotHandleAnEntryWhoseAckIsOnItsWay(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	srv.Do(t, "XGROUP", "CREATE", "s", "g", "0", "MKSTREAM")
	var ids []string
	for i := range 4 {
		id, _ := srv.Do(t, "XADD", "s", "*", "i", strconv.Itoa(i)).ToString()
		ids = append(ids, id)
	}
	srv.Do(t, "XREADGROUP", "GROUP", "g", "w", "COUNT", "4", "STREAMS", "s", ">") // held by "w" from an earlier run
	release, quick := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	calls := map[string]int{}
	h := HandlerFunc(func(ctx context.Context, m *Message) error {
		mu.Lock()
		calls[m.ID]++
		n := calls[m.ID]
		mu.Unlock()
		if m.ID == ids[3] {
			if n == 1 {
				<-quick
			}
			return nil
		}
		<-release
		return nil
	})
	cons, err := NewConsumer(c, "s", "g", h, Name("w"), Concurrency(8), AckInterval(time.Second), Block(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	done := runInternal(t, cons)
	waitInternal(t, 5*time.Second, "4 resumed and running", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == 4
	})
	waitInternal(t, 5*time.Second, "reader blocked", func() bool { return blockedOn(t, srv) == 1 })
	close(quick) // ids[3] succeeds; its XACK waits up to AckInterval
	waitInternal(t, 5*time.Second, "ids[3] settled", func() bool { return cons.Stats().Handled == 1 })
	sd := make(chan error, 1)
	go func() { sd <- cons.Shutdown(context.Background()) }()
	time.Sleep(300 * time.Millisecond)
	close(release)
	if err := <-sd; err != nil {
		t.Fatal(err)
	}
	<-done
	mu.Lock()
	defer mu.Unlock()
	if calls[ids[3]] != 1 {
		t.Fatalf("entry %s handled %d times: its handler had succeeded before Shutdown", ids[3], calls[ids[3]])
	}
}

// firstBatchWaits is a batch handler whose first batch waits for release;
// it records every batch's size.
type firstBatchWaits struct {
	release chan struct{}
	mu      sync.Mutex
	sizes   []int
}

func newFirstBatchWaits() *firstBatchWaits { return &firstBatchWaits{release: make(chan struct{})} }

func (h *firstBatchWaits) HandleBatch(ctx context.Context, msgs []*Message) error {
	h.mu.Lock()
	h.sizes = append(h.sizes, len(msgs))
	first := len(h.sizes) == 1
	h.mu.Unlock()
	if first {
		<-h.release
	}
	return nil
}

func (h *firstBatchWaits) batches() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.sizes...)
}

// Batch consumer: capacity concurrency*batch lets the reader keep
// reading while the only batch is busy; each read becomes a separate small
// job; entries queue behind a busy handler instead of staying available.
func TestBatchConsumerDoesNotReadWhileItsOnlyBatchIsBusy(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	h := newFirstBatchWaits()
	cons, err := NewBatchConsumer(c, "s", "g", h, BatchSize(10), Block(100*time.Millisecond), StartID("0"), Name("w"))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	srv.Do(t, "XADD", "s", "*", "k", "v")
	waitInternal(t, 5*time.Second, "first batch running", func() bool { return len(h.batches()) == 1 })
	for range 9 {
		srv.Do(t, "XADD", "s", "*", "k", "v")
		time.Sleep(150 * time.Millisecond)
	}
	held := consumerPending(t, srv, "s", "g", "w")
	t.Logf("inHand %d capacity %d lowWater %d", cons.inHand.Load(), cons.capacity, cons.lowWater())
	close(h.release)
	waitInternal(t, 5*time.Second, "all handled", func() bool { return cons.Stats().Handled == 10 })
	sizes := h.batches()
	t.Logf("held while the only batch was busy: %d; batch sizes %v", held, sizes)
	if held > 1 {
		t.Fatalf("batch consumer with Concurrency 1 held %d entries while its only batch was busy; batches %v", held, sizes)
	}
}

// Acks that fail while the read succeeds are put back and ride the next
// read, which therefore never blocks: the reader spins on non-blocking
// XREADGROUPs with no backoff for as long as XACK fails.
func TestFailingAcksDoNotTurnReadsIntoASpin(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	srv.Do(t, "ACL", "SETUSER", "noack", "on", ">pw", "~*", "&*", "+@all", "-xack")
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, Username: "noack", Password: "pw", DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var handled atomic.Int64
	h := HandlerFunc(func(ctx context.Context, m *Message) error { handled.Add(1); return nil })
	cons, err := NewConsumer(c, "s", "g", h, Block(200*time.Millisecond), StartID("0"), WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	srv.Do(t, "XADD", "s", "*", "k", "v")
	waitInternal(t, 5*time.Second, "handled", func() bool { return handled.Load() == 1 })
	time.Sleep(500 * time.Millisecond)
	before := xreadgroupCalls(t, srv)
	time.Sleep(time.Second)
	reads := xreadgroupCalls(t, srv) - before
	t.Logf("XREADGROUP calls in 1s on an idle stream with Block(200ms): %d", reads)
	if reads > 20 {
		t.Fatalf("%d XREADGROUPs in one idle second: the reader spins while its acks fail", reads)
	}
}

func xreadgroupCalls(t *testing.T, srv *redstreamtest.Server) int64 {
	t.Helper()
	s, err := srv.Do(t, "INFO", "commandstats").ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_xreadgroup:calls="); ok {
			n, _ := strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
			return n
		}
	}
	return 0
}

func waitInternal(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// AlsoStreams with an idle stream: its reader must not sit on the only
// handler's room in a blocking read while the other stream has a backlog
// (before the fix, 4 to 9 of 50 entries got through in 5 s, whichever
// stream was listed first).
func TestAnIdleStreamDoesNotThrottleABusyOne(t *testing.T) {
	for _, busyFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("busy stream first %v", busyFirst), func(t *testing.T) {
			srv := redstreamtest.StartRedis(t)
			c := srv.Client(t)
			var handled atomic.Int64
			h := HandlerFunc(func(ctx context.Context, m *Message) error { handled.Add(1); return nil })
			for range 50 {
				srv.Do(t, "XADD", "busy", "*", "k", "v")
			}
			srv.Do(t, "XGROUP", "CREATE", "idle", "g", "0", "MKSTREAM")
			first, also := "idle", "busy"
			if busyFirst {
				first, also = also, first
			}
			cons, err := NewConsumer(c, first, "g", h, AlsoStreams(also), Concurrency(1), StartID("0"))
			if err != nil {
				t.Fatal(err)
			}
			runInternal(t, cons)
			// A generous bound: the point is that the backlog flows at all.
			if !eventuallyTrue(10*time.Second, func() bool { return handled.Load() == 50 }) {
				t.Fatalf("%d of 50 backlogged entries handled in 10s (quick handler) while the other stream is idle", handled.Load())
			}
		})
	}
}

func eventuallyTrue(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// While the stream has a backlog, a batch consumer reads one batch ahead
// of the batch it runs, so that Redis serves the next read while the
// handler works, and never more than one: BatchSize(10) and Concurrency 1
// hold 20 entries at most, whatever the backlog.
func TestBatchConsumerReadsOneBatchAheadOfABacklog(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	for range 100 {
		srv.Do(t, "XADD", "s", "*", "k", "v")
	}
	h := newFirstBatchWaits()
	cons, err := NewBatchConsumer(c, "s", "g", h, BatchSize(10), StartID("0"), Name("w"))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	waitInternal(t, 10*time.Second, "the first batch running and the next one read", func() bool {
		return consumerPending(t, srv, "s", "g", "w") == 20
	})
	// Watch a while: a reader that reads further does so at once.
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := consumerPending(t, srv, "s", "g", "w"); n > 20 {
			t.Fatalf("a batch consumer of BatchSize 10 and Concurrency 1 holds %d entries while its batch runs; want one batch ahead at most", n)
		}
	}
	close(h.release)
	waitInternal(t, 10*time.Second, "all handled", func() bool { return cons.Stats().Acked == 100 })
	sizes := h.batches()
	for i, n := range sizes {
		if n != 10 {
			t.Fatalf("batch %d had %d entries, want 10 (batches %v)", i, n, sizes)
		}
	}
}
