package redstream

import "sync"

// job is one call of a handler: an entry for a Handler, or a batch of one
// stream's entries for a BatchHandler.
type job struct {
	m     *Message
	batch []*Message
}

// workQueue hands what readers read to a fixed set of workers, one
// goroutine per Concurrency, instead of a goroutine per entry. Jobs are
// taken in order. One idle worker at a time is being woken: pushing wakes
// one, and a worker that starts while jobs are still waiting wakes the
// next. A burst of slow jobs spreads over as many workers as it keeps
// busy, while quick handlers drain a read on few goroutines, without a
// wake-up (or a fight over the lock) per entry.
type workQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	jobs   []job
	head   int
	idle   int
	waking int  // signaled and not yet running: one at a time
	closed bool // no more jobs: workers finish what is queued, then exit
}

func newWorkQueue() *workQueue {
	q := &workQueue{}
	q.cond.L = &q.mu
	return q
}

// pushMessages queues one job per message.
func (q *workQueue) pushMessages(msgs []*Message) {
	q.mu.Lock()
	for _, m := range msgs {
		q.jobs = append(q.jobs, job{m: m})
	}
	wake := q.wakeOne()
	q.mu.Unlock()
	if wake {
		q.cond.Signal()
	}
}

// pushBatch queues msgs as one job.
func (q *workQueue) pushBatch(msgs []*Message) {
	q.mu.Lock()
	q.jobs = append(q.jobs, job{batch: msgs})
	wake := q.wakeOne()
	q.mu.Unlock()
	if wake {
		q.cond.Signal()
	}
}

// pop waits for the next job; it reports false once the queue is closed
// and empty.
func (q *workQueue) pop() (job, bool) {
	q.mu.Lock()
	for q.head == len(q.jobs) && !q.closed {
		q.idle++
		q.cond.Wait()
		q.idle--
		if q.waking > 0 {
			q.waking--
		}
	}
	if q.head == len(q.jobs) {
		q.mu.Unlock()
		return job{}, false
	}
	j := q.jobs[q.head]
	q.jobs[q.head] = job{}
	q.head++
	switch {
	case q.head == len(q.jobs): // empty: reuse the array from the start
		q.jobs, q.head = q.jobs[:0], 0
	case q.head >= 1024 && 2*q.head >= len(q.jobs):
		// Never empty, the queue would grow for ever: move the waiting
		// jobs to the front.
		n := copy(q.jobs, q.jobs[q.head:])
		clear(q.jobs[n:])
		q.jobs, q.head = q.jobs[:n], 0
	}
	more := q.head < len(q.jobs) && q.wakeOne()
	q.mu.Unlock()
	if more {
		q.cond.Signal()
	}
	return j, true
}

// wakeOne reports whether to wake an idle worker (with mu held): when one
// is idle and none is being woken already.
func (q *workQueue) wakeOne() bool {
	if q.idle == 0 || q.waking > 0 {
		return false
	}
	q.waking++
	return true
}

// close lets the workers exit once the queue is empty.
func (q *workQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
