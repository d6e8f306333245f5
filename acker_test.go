package redstream

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// logBuffer is an io.Writer for a test's logger, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testAcker struct {
	*acker
	life  *lifecycle
	acked *atomic.Int64
	held  *heldSet
	logs  *logBuffer
}

// newTestAcker returns an acker for group with the given interval and
// batch, and its own lifecycle. client may be nil for tests that send
// nothing.
func newTestAcker(client rueidis.Client, group string, interval time.Duration, batch int) *testAcker {
	life := newLifecycle()
	cfg := &consumerConfig{ackInterval: interval, ackBatch: batch}
	logs := &logBuffer{}
	acked := &atomic.Int64{}
	held := newHeldSet()
	a := newAcker(client, group, cfg, &life, slog.New(slog.NewTextHandler(logs, nil)), acked, held)
	return &testAcker{acker: a, life: &life, acked: acked, held: held, logs: logs}
}

// Catches: take that returns more than AckBatch IDs (an XACK too big),
// another stream's IDs (acked on the wrong key: lost), drops the IDs it
// did not return, miscounts what waits, or hands out a slice whose spare
// capacity is the IDs still waiting (an append by the caller would
// overwrite them).
func TestAckerTakeIsOneStreamAndAtMostABatch(t *testing.T) {
	a := newTestAcker(nil, "g", time.Second, 3)
	for _, id := range []string{"1-0", "2-0", "3-0", "4-0", "5-0"} {
		a.add("s", id)
	}
	a.add("other", "9-0")
	if n := a.waiting(); n != 6 {
		t.Fatalf("waiting = %d, want 6", n)
	}
	got := a.take("s")
	if fmt.Sprint(got) != "[1-0 2-0 3-0]" {
		t.Fatalf("first take = %v, want the first 3 of s", got)
	}
	_ = append(got, "clobbered")
	if n := a.waiting(); n != 3 {
		t.Fatalf("waiting after a take of 3 = %d, want 3", n)
	}
	if got := a.take("s"); fmt.Sprint(got) != "[4-0 5-0]" {
		t.Fatalf("second take = %v, want [4-0 5-0]", got)
	}
	if got := a.take("s"); got != nil {
		t.Fatalf("third take = %v, want nothing", got)
	}
	if got := a.take("other"); fmt.Sprint(got) != "[9-0]" {
		t.Fatalf("take of the other stream = %v", got)
	}
	if n := a.waiting(); n != 0 {
		t.Fatalf("waiting = %d after taking everything", n)
	}
}

// Catches: putBack that loses the IDs of a failed XACK (their entries are
// delivered again although handled) or does not count them as waiting
// (the loop would then sleep on them).
func TestAckerPutBackRequeues(t *testing.T) {
	a := newTestAcker(nil, "g", time.Second, 10)
	a.add("s", "1-0")
	a.add("s", "2-0")
	got := a.take("s")
	<-a.kick // the first add's signal
	a.putBack("s", got)
	if n := a.waiting(); n != 2 {
		t.Fatalf("waiting after putBack = %d, want 2", n)
	}
	select {
	case <-a.kick:
	default:
		t.Fatal("putBack did not wake the sending loop")
	}
	if again := a.take("s"); fmt.Sprint(again) != "[1-0 2-0]" {
		t.Fatalf("take after putBack = %v, want [1-0 2-0]", again)
	}
}

// Catches: add that does not wake the sending loop for the first ID (acks
// would wait for a later add), or does not say "send now" when a whole
// batch waits (AckInterval would delay a full batch).
func TestAckerAddSignals(t *testing.T) {
	a := newTestAcker(nil, "g", time.Second, 3)
	a.add("s", "1-0")
	if len(a.kick) != 1 || len(a.full) != 0 {
		t.Fatalf("after the first ID: kick %d, full %d; want 1, 0", len(a.kick), len(a.full))
	}
	a.add("s", "2-0")
	if len(a.full) != 0 {
		t.Fatal("full signaled before a batch waits")
	}
	a.add("other", "3-0")
	if len(a.full) != 1 {
		t.Fatal("AckBatch IDs wait (over two streams) but full was not signaled")
	}
}

// Catches: flush that does not send every waiting ID (split into XACKs of
// AckBatch on each stream), does not count what Redis confirmed, keeps
// IDs it sent successfully, or keeps their entries held (kept alive and
// skipped by reads) after Redis confirmed them.
func TestAckerFlushAcks(t *testing.T) {
	_, c := partsServer(t)
	var ids = map[string][]string{}
	for _, s := range []string{"s1", "s2"} {
		makeGroup(t, c, s, "g")
		addEntries(t, c, s, 5)
		ids[s] = readAs(t, c, s, "g", "me", 5)
	}
	a := newTestAcker(c, "g", time.Second, 2)
	for s, list := range ids {
		for _, id := range list {
			a.held.add(&Message{ID: id, Stream: s})
			a.add(s, id)
		}
	}
	if !a.flush() {
		t.Fatalf("flush failed: %s", a.logs)
	}
	for s := range ids {
		if p := pendingOf(t, c, s, "g"); len(p) != 0 {
			t.Fatalf("%s still pending after flush: %v", s, p)
		}
	}
	if n := a.acked.Load(); n != 10 {
		t.Fatalf("acked = %d, want 10", n)
	}
	if n := a.waiting(); n != 0 {
		t.Fatalf("waiting after a good flush = %d", n)
	}
	if h := a.held.byStream(); len(h["s1"])+len(h["s2"]) != 0 {
		t.Fatalf("entries still held after Redis confirmed their acks: %v", h)
	}
	if !a.flush() {
		t.Fatal("flush with nothing waiting reported a failure")
	}
}

// Catches: a failed XACK whose IDs are dropped instead of kept waiting
// (handled entries delivered again, or never acked), their entries let go
// before Redis confirmed, and IDs that are not sent again once Redis
// accepts them; in flush and in the sending loop, which also says it is
// failing (so readers stop carrying acks) and stops saying so once sent.
func TestAckerFailedXackKeepsIDsUntilSent(t *testing.T) {
	t.Run("flush", func(t *testing.T) {
		_, c := partsServer(t)
		makeGroup(t, c, "s", "g")
		addEntries(t, c, "s", 3)
		ids := readAs(t, c, "s", "g", "me", 3)
		a := newTestAcker(c, "g", time.Second, 2)
		redisDo(t, c, "ACL", "SETUSER", "default", "-xack")
		for _, id := range ids {
			a.held.add(&Message{ID: id, Stream: "s"})
			a.add("s", id)
		}
		if a.flush() {
			t.Fatal("flush reported success although XACK is refused")
		}
		if n := len(a.held.byStream()["s"]); n != 3 {
			t.Fatalf("%d of 3 entries held after a refused XACK: let go before Redis confirmed", n)
		}
		if n := a.waiting(); n != 3 {
			t.Fatalf("waiting after a failed flush = %d, want 3", n)
		}
		if p := pendingOf(t, c, "s", "g"); len(p) != 3 {
			t.Fatalf("pending = %v, want all 3", p)
		}
		if n := a.acked.Load(); n != 0 {
			t.Fatalf("acked = %d after a refused XACK", n)
		}
		redisDo(t, c, "ACL", "SETUSER", "default", "+xack")
		if !a.flush() {
			t.Fatalf("flush failed once XACK is allowed: %s", a.logs)
		}
		if p := pendingOf(t, c, "s", "g"); len(p) != 0 {
			t.Fatalf("pending after the second flush: %v", p)
		}
		if n := a.acked.Load(); n != 3 {
			t.Fatalf("acked = %d, want 3", n)
		}
	})
	t.Run("loop", func(t *testing.T) {
		_, c := partsServer(t)
		makeGroup(t, c, "s", "g")
		addEntries(t, c, "s", 3)
		ids := readAs(t, c, "s", "g", "me", 3)
		a := newTestAcker(c, "g", 2*time.Millisecond, 1024)
		a.start()
		defer a.stop()
		redisDo(t, c, "ACL", "SETUSER", "default", "-xack")
		for _, id := range ids {
			a.add("s", id)
		}
		eventually(t, 10*time.Second, "a refused XACK", func() bool {
			return strings.Contains(a.logs.String(), "acknowledging entries failed")
		})
		// Readers see it and leave the acks to the loop's backoff.
		eventually(t, 10*time.Second, "failing set", a.failing.Load)
		if p := pendingOf(t, c, "s", "g"); len(p) != 3 {
			t.Fatalf("pending = %v, want all 3 while XACK is refused", p)
		}
		redisDo(t, c, "ACL", "SETUSER", "default", "+xack")
		eventually(t, 10*time.Second, "the acks sent again once allowed", func() bool {
			return len(pendingOf(t, c, "s", "g")) == 0
		})
		// Counted once the reply is read, a moment after Redis acked.
		eventually(t, 10*time.Second, "3 acks counted", func() bool { return a.acked.Load() == 3 })
		eventually(t, 10*time.Second, "failing cleared", func() bool { return !a.failing.Load() })
	})
}

// Catches: stop that returns without sending what waits (a Shutdown that
// leaves handled entries pending), here with an AckInterval of 1s that
// has not passed.
func TestAckerStopSendsWhatWaits(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 3)
	ids := readAs(t, c, "s", "g", "me", 3)
	a := newTestAcker(c, "g", time.Second, 1024)
	a.start()
	for _, id := range ids {
		a.add("s", id)
	}
	a.stop()
	if p := pendingOf(t, c, "s", "g"); len(p) != 0 {
		t.Fatalf("pending after stop: %v, want none", p)
	}
	if n := a.acked.Load(); n != 3 {
		t.Fatalf("acked = %d, want 3", n)
	}
}

// Catches: a stop after Close that retries a refused XACK without end
// (Close must not be held up), and acks lost without a word in the log.
func TestAckerStopAfterCloseDoesNotHang(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 1)
	ids := readAs(t, c, "s", "g", "me", 1)
	a := newTestAcker(c, "g", time.Second, 1024)
	a.start()
	redisDo(t, c, "ACL", "SETUSER", "default", "-xack")
	a.add("s", ids[0])
	a.life.close()
	stopped := make(chan struct{})
	go func() { a.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("stop after Close hung on a refused XACK")
	}
	if !strings.Contains(a.logs.String(), "acknowledgements lost at shutdown") {
		t.Fatalf("lost acks were not logged: %s", a.logs)
	}
}
