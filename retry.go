package redstream

import (
	"sync"
	"time"
)

// retryQueue holds the failed entries waiting to be handled again. An
// entry waits for its backoff on a timer, then is due: the reader of its
// stream takes it in its next turn (and is woken for it), so retries use
// the handler room the reader has, like any read. Entries stay pending
// and held (kept alive) while they wait.
type retryQueue struct {
	stopping <-chan struct{}
	held     *heldSet
	wake     func(stream string) // interrupts the stream's blocked read

	mu     sync.Mutex
	timers map[*Message]*time.Timer
	due    map[string][]*Message // per stream
}

func newRetryQueue(stopping <-chan struct{}, held *heldSet, wake func(string)) *retryQueue {
	return &retryQueue{
		stopping: stopping, held: held, wake: wake,
		timers: make(map[*Message]*time.Timer),
		due:    make(map[string][]*Message),
	}
}

// schedule makes m due after delay. Once the consumer stops, m is let go
// instead: it stays pending, for this name to resume or another to take.
func (q *retryQueue) schedule(m *Message, delay time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	select {
	case <-q.stopping:
		q.held.remove(m)
		return
	default:
	}
	q.timers[m] = time.AfterFunc(delay, func() {
		q.mu.Lock()
		if _, ok := q.timers[m]; !ok {
			q.mu.Unlock()
			return
		}
		delete(q.timers, m)
		q.due[m.Stream] = append(q.due[m.Stream], m)
		q.mu.Unlock()
		q.wake(m.Stream)
	})
}

// stop forgets every retry, due or not; their entries stay pending.
func (q *retryQueue) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for m, t := range q.timers {
		t.Stop()
		q.held.remove(m)
	}
	clear(q.timers)
	for _, due := range q.due {
		for _, m := range due {
			q.held.remove(m)
		}
	}
	clear(q.due)
}

// cancel forgets a waiting retry of the entry, which another consumer has
// taken over.
func (q *retryQueue) cancel(stream, id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for m, t := range q.timers {
		if m.Stream == stream && m.ID == id {
			t.Stop()
			delete(q.timers, m)
		}
	}
}

// take removes up to n due retries of stream.
func (q *retryQueue) take(stream string, n int) []*Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	due := q.due[stream]
	k := min(n, len(due))
	out := append([]*Message(nil), due[:k]...)
	q.due[stream] = due[k:]
	return out
}

// hasDue reports whether stream has retries due.
func (q *retryQueue) hasDue(stream string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.due[stream]) > 0
}
