package redstream

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testMessages(from, n int) []*Message {
	msgs := make([]*Message, n)
	for i := range msgs {
		msgs[i] = &Message{ID: strconv.Itoa(from+i) + "-0", Stream: "s"}
	}
	return msgs
}

// startWorkers runs n workers over q, each calling run for every job, and
// returns a function that closes q and waits (boundedly) for them to exit.
func startWorkers(t *testing.T, q *workQueue, n int, run func(job)) (closeAndWait func()) {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok := q.pop()
				if !ok {
					return
				}
				run(j)
			}
		}()
	}
	return func() {
		t.Helper()
		q.close()
		exited := make(chan struct{})
		go func() { wg.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Fatal("workers did not exit after close: pop does not report false on a closed, empty queue")
		}
	}
}

// waitIdle waits until n workers wait in pop.
func waitIdle(t *testing.T, q *workQueue, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		q.mu.Lock()
		idle := q.idle
		q.mu.Unlock()
		if idle == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers idle, want %d", idle, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Catches: jobs taken out of order (a reader's entries handled in another
// order than read, a batch's place lost), jobs lost or repeated when the
// queue's array is reused after it empties, and a batch split up.
func TestWorkQueuePopsInOrder(t *testing.T) {
	q := newWorkQueue()
	q.pushMessages(testMessages(1, 3))
	batch := testMessages(4, 2)
	q.pushBatch(batch)
	q.pushMessages(testMessages(6, 1))
	var got []string
	for range 5 {
		j, ok := q.pop()
		if !ok {
			t.Fatal("pop reported false with jobs queued")
		}
		if j.batch != nil {
			if len(j.batch) != 2 || j.batch[0] != batch[0] || j.batch[1] != batch[1] {
				t.Fatalf("batch job = %v, want the batch pushed", j.batch)
			}
			got = append(got, "batch")
			continue
		}
		got = append(got, j.m.ID)
	}
	if want := "[1-0 2-0 3-0 batch 6-0]"; fmt.Sprint(got) != want {
		t.Fatalf("popped %v, want %s", got, want)
	}
	// Empty now: the array is reused from the start; order still holds.
	q.pushMessages(testMessages(7, 2))
	q.pushMessages(testMessages(9, 1))
	got = got[:0]
	for range 3 {
		j, _ := q.pop()
		got = append(got, j.m.ID)
	}
	if want := "[7-0 8-0 9-0]"; fmt.Sprint(got) != want {
		t.Fatalf("after reuse popped %v, want %s", got, want)
	}
}

// Catches: close that drops queued jobs (entries read but never handled
// at Shutdown), and workers that never exit after close (Run hangs).
func TestWorkQueueCloseDrainsThenEnds(t *testing.T) {
	q := newWorkQueue()
	q.pushMessages(testMessages(1, 3))
	q.close()
	for i := range 3 {
		j, ok := q.pop()
		if !ok || j.m == nil || j.m.ID != strconv.Itoa(i+1)+"-0" {
			t.Fatalf("pop %d after close = %v, %v; want the queued job", i, j, ok)
		}
	}
	if _, ok := q.pop(); ok {
		t.Fatal("pop on a closed, empty queue reported a job")
	}

	// Workers waiting on an empty queue all leave on close.
	q = newWorkQueue()
	closeAndWait := startWorkers(t, q, 4, func(job) {})
	waitIdle(t, q, 4)
	closeAndWait()
}

// Catches a lost wake-up: with one wake-up at a time, the worker that
// starts must wake the next while jobs wait. If it does not, a burst of
// slow jobs runs on one worker (here: never reaches 4 at once and hangs
// until the bound). Pushed as one read and as many small pushes.
func TestWorkQueueSlowJobsUseEveryWorker(t *testing.T) {
	const workers, jobs = 4, 100
	for _, tc := range []struct {
		name string
		push func(q *workQueue, msgs []*Message)
	}{
		{"one push", func(q *workQueue, msgs []*Message) { q.pushMessages(msgs) }},
		{"one push per entry", func(q *workQueue, msgs []*Message) {
			for _, m := range msgs {
				q.pushMessages([]*Message{m})
			}
		}},
		{"batches", func(q *workQueue, msgs []*Message) {
			for _, m := range msgs {
				q.pushBatch([]*Message{m})
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newWorkQueue()
			var running, most atomic.Int64
			all := make(chan struct{}) // closed once 4 run at once
			var allOnce sync.Once
			var seenMu sync.Mutex
			seen := map[string]int{}
			var stuck atomic.Bool
			closeAndWait := startWorkers(t, q, workers, func(j job) {
				m := j.m
				if m == nil {
					m = j.batch[0]
				}
				seenMu.Lock()
				seen[m.ID]++
				seenMu.Unlock()
				r := running.Add(1)
				for {
					old := most.Load()
					if r <= old || most.CompareAndSwap(old, r) {
						break
					}
				}
				if r == workers {
					allOnce.Do(func() { close(all) })
				}
				<-all
				running.Add(-1)
			})
			waitIdle(t, q, workers)
			tc.push(q, testMessages(1, jobs))
			select {
			case <-all:
			case <-time.After(10 * time.Second):
				stuck.Store(true)
				allOnce.Do(func() { close(all) }) // let the jobs run out
			}
			closeAndWait()
			if stuck.Load() || most.Load() != workers {
				t.Fatalf("at most %d of %d workers ran at once: a wake-up was lost", most.Load(), workers)
			}
			if len(seen) != jobs {
				t.Fatalf("%d distinct jobs ran, want %d", len(seen), jobs)
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("job %s ran %d times", id, n)
				}
			}
		})
	}
}

// Catches a job stranded in the queue: bursts pushed from several
// goroutines while the workers are idle (or just going idle) must all be
// handled without another push to wake anyone. Repeated so that the
// waking count has to return to zero every time.
func TestWorkQueueBurstWhileIdleIsFullyProcessed(t *testing.T) {
	const workers, pushers, perPusher, rounds = 4, 3, 20, 50
	q := newWorkQueue()
	var handled atomic.Int64
	closeAndWait := startWorkers(t, q, workers, func(job) { handled.Add(1) })
	defer closeAndWait()
	perRound := int64(0) // jobs pushed per round
	for range pushers {
		for i := range perPusher {
			perRound += int64(1 + i%3)
		}
	}
	wantTotal := int64(0)
	for round := range rounds {
		waitIdle(t, q, workers)
		var wg sync.WaitGroup
		for p := range pushers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perPusher {
					q.pushMessages(testMessages(p*1000+i, 1+i%3))
				}
			}()
		}
		wg.Wait()
		wantTotal += perRound
		deadline := time.Now().Add(10 * time.Second)
		for handled.Load() != wantTotal {
			if time.Now().After(deadline) {
				q.mu.Lock()
				left := len(q.jobs) - q.head
				q.mu.Unlock()
				t.Fatalf("round %d: handled %d of %d; %d jobs stranded in the queue", round, handled.Load(), wantTotal, left)
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// Catches: a queue that is never empty (a steady stream of reads, each
// arriving before the last job is taken) growing without bound, because
// the array is reused only when it empties; and jobs lost or reordered
// when the waiting ones are moved to the front.
func TestWorkQueueNeverEmptyStaysBounded(t *testing.T) {
	q := newWorkQueue()
	q.pushMessages(testMessages(0, 1))
	const rounds = 20000
	most := 0
	for i := range rounds {
		q.pushMessages(testMessages(i+1, 1))
		j, ok := q.pop()
		if !ok || j.m.ID != strconv.Itoa(i)+"-0" {
			t.Fatalf("pop %d = %v, %v; want %d-0", i, j.m, ok, i)
		}
		q.mu.Lock()
		most = max(most, cap(q.jobs))
		q.mu.Unlock()
	}
	if most > 4096 {
		t.Fatalf("with one job waiting at all times the queue's array grew to %d", most)
	}
	if j, _ := q.pop(); j.m.ID != strconv.Itoa(rounds)+"-0" {
		t.Fatalf("last job = %s, want %d-0", j.m.ID, rounds)
	}
}
