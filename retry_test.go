package redstream

import (
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// wakeLog records the streams a retryQueue wakes.
type wakeLog struct {
	mu      sync.Mutex
	streams []string
}

func (w *wakeLog) wake(stream string) {
	w.mu.Lock()
	w.streams = append(w.streams, stream)
	w.mu.Unlock()
}

func (w *wakeLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprint(w.streams)
}

// newTestRetries returns a retry queue, its stopping channel, held set and
// wake log. Call it inside the synctest bubble.
func newTestRetries() (*retryQueue, chan struct{}, *heldSet, *wakeLog) {
	stopping := make(chan struct{})
	held := newHeldSet()
	wakes := &wakeLog{}
	return newRetryQueue(stopping, held, wakes.wake), stopping, held, wakes
}

func msgIDs(msgs []*Message) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return fmt.Sprint(out)
}

// Catches: a retry due before its delay (a failing handler hammered) or
// never due, a due retry that does not wake its stream's reader (it would
// wait out a whole Block), a wake of the wrong stream, and take that
// returns more than asked, another stream's retries, or loses the rest.
func TestRetryQueueScheduleIsDueAfterTheDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _, held, wakes := newTestRetries()
		a := &Message{ID: "1-0", Stream: "s"}
		b := &Message{ID: "2-0", Stream: "s"}
		c := &Message{ID: "3-0", Stream: "s"}
		o := &Message{ID: "9-0", Stream: "other"}
		for _, m := range []*Message{a, b, c, o} {
			held.add(m)
		}
		q.schedule(a, time.Second)
		q.schedule(b, time.Second)
		q.schedule(c, 2*time.Second)
		q.schedule(o, time.Second)

		time.Sleep(time.Second - time.Millisecond)
		synctest.Wait()
		if q.hasDue("s") || wakes.String() != "[]" {
			t.Fatalf("before the delay: due %v, wakes %s", q.hasDue("s"), wakes)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if !q.hasDue("s") || !q.hasDue("other") {
			t.Fatal("not due after the delay")
		}
		if w := wakes.String(); w != "[s s other]" && w != "[s other s]" && w != "[other s s]" {
			t.Fatalf("wakes = %s, want s twice and other once", w)
		}
		if got := msgIDs(q.take("s", 1)); got != "[1-0]" && got != "[2-0]" {
			t.Fatalf("take(s, 1) = %s", got)
		}
		if got := q.take("s", 10); len(got) != 1 {
			t.Fatalf("take(s, 10) after one = %s, want the other due one", msgIDs(got))
		}
		if q.hasDue("s") {
			t.Fatal("still due after taking everything due")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := msgIDs(q.take("s", 10)); got != "[3-0]" {
			t.Fatalf("take(s) after 2s = %s, want [3-0]", got)
		}
		if got := msgIDs(q.take("other", 10)); got != "[9-0]" {
			t.Fatalf("take(other) = %s, want [9-0]", got)
		}
		// Waiting and due, entries stay held: the keep-alive refreshes them.
		for _, m := range []*Message{a, b, c, o} {
			if !held.has(m.Stream, m.ID) {
				t.Fatalf("%s was let go by the retry queue", m.ID)
			}
		}
	})
}

// Catches: cancel that does not forget the retry of an entry another
// consumer took over (this one would handle it too, and wake for it), or
// that forgets another entry's retry.
func TestRetryQueueCancelForgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _, _, wakes := newTestRetries()
		a := &Message{ID: "1-0", Stream: "s"}
		b := &Message{ID: "2-0", Stream: "s"}
		q.schedule(a, time.Second)
		q.schedule(b, time.Second)
		q.cancel("s", "1-0")
		q.cancel("other", "2-0") // same ID, other stream: not b
		time.Sleep(time.Hour)
		synctest.Wait()
		if got := msgIDs(q.take("s", 10)); got != "[2-0]" {
			t.Fatalf("due after cancel(1-0) = %s, want [2-0]", got)
		}
		if w := wakes.String(); w != "[s]" {
			t.Fatalf("wakes = %s, want one for b", w)
		}
	})
}

// Catches: stop that leaves waiting or due retries held (the keep-alive
// would keep them from every other consumer while this one is gone), or
// lets a waiting retry become due after the stop.
func TestRetryQueueStopLetsEverythingGo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, _, held, wakes := newTestRetries()
		due := &Message{ID: "1-0", Stream: "s"}
		waiting := &Message{ID: "2-0", Stream: "s"}
		held.add(due)
		held.add(waiting)
		q.schedule(due, time.Second)
		q.schedule(waiting, time.Minute)
		time.Sleep(time.Second)
		synctest.Wait()
		if !q.hasDue("s") {
			t.Fatal("not due after its delay")
		}
		q.stop()
		if held.has("s", "1-0") || held.has("s", "2-0") {
			t.Fatalf("held after stop: %v", held.byStream())
		}
		if q.hasDue("s") {
			t.Fatal("a retry is still due after stop")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if q.hasDue("s") || wakes.String() != "[s]" {
			t.Fatalf("after stop and an hour: due %v, wakes %s; want nothing more", q.hasDue("s"), wakes)
		}
	})
}

// Catches: a retry scheduled after the consumer stopped that is kept
// (and held) although no reader will take it: the entry would be held
// until Run returns, and by a stuck keep-alive, beyond.
func TestRetryQueueScheduleAfterStoppingReleasesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q, stopping, held, wakes := newTestRetries()
		m := &Message{ID: "1-0", Stream: "s"}
		held.add(m)
		close(stopping)
		q.schedule(m, time.Second)
		if held.has("s", "1-0") {
			t.Fatal("an entry scheduled after stopping is still held")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if q.hasDue("s") || wakes.String() != "[]" {
			t.Fatalf("a retry scheduled after stopping became due (%v) or woke (%s)", q.hasDue("s"), wakes)
		}
	})
}
