package redstream

import "sync"

// job is one call of a handler: an entry for a Handler, or a batch of one
// stream's entries for a BatchHandler.
type job struct {
	m     *Message
	batch []*Message
}

// workQueue hands what readers read to a set of workers, at most one
// goroutine per Concurrency, instead of a goroutine per entry. Jobs are
// taken in order. One idle worker at a time is being woken: pushing wakes
// one, and a worker that starts while jobs are still waiting wakes the
// next. A burst of slow jobs spreads over as many workers as it keeps
// busy, while quick handlers drain a read on few goroutines, without a
// wake-up (or a fight over the lock) per entry.
//
// Workers are started as they are needed (see startWorkers): where a
// worker would be woken but none is idle, a new one is started, up to
// the limit. A consumer with a large Concurrency that is never that busy
// runs only the goroutines its load has needed.
type workQueue struct {
	mu     sync.Mutex
	cond   sync.Cond
	jobs   []job
	head   int
	idle   int
	waking int  // signaled, or started, and not yet running: one at a time
	closed bool // no more jobs: workers finish what is queued, then exit

	limit   int // the most workers started; 0: the caller starts them
	started int // workers started so far
	workers *sync.WaitGroup
	run     func(job) // what a started worker does with each job
}

func newWorkQueue() *workQueue {
	q := &workQueue{}
	q.cond.L = &q.mu
	return q
}

// startWorkers makes the queue start its own workers as jobs need them,
// up to limit, each calling run for every job it takes, counted in wg.
// Without it, the caller runs workers that call pop.
func (q *workQueue) startWorkers(limit int, wg *sync.WaitGroup, run func(job)) {
	q.mu.Lock()
	q.limit, q.workers, q.run = limit, wg, run
	q.mu.Unlock()
}

// startedWorkers returns how many workers the queue has started.
func (q *workQueue) startedWorkers() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.started
}

// worker runs jobs until the queue is closed and empty.
func (q *workQueue) worker() {
	defer q.workers.Done()
	arriving := true // counted in waking until it first looks
	for {
		j, ok := q.take(arriving)
		if !ok {
			return
		}
		arriving = false
		q.run(j)
	}
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
func (q *workQueue) pop() (job, bool) { return q.take(false) }

// take is pop for a worker; arriving says it is a worker the queue has
// just started, which was counted as being woken.
func (q *workQueue) take(arriving bool) (job, bool) {
	q.mu.Lock()
	if arriving && q.waking > 0 {
		q.waking--
	}
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
// is idle and none is being woken already. With none idle, it starts a
// new worker instead, if the limit allows; that one counts as being woken
// until it runs.
func (q *workQueue) wakeOne() bool {
	if q.waking > 0 {
		return false
	}
	if q.idle == 0 {
		if q.started < q.limit {
			q.started++
			q.waking++
			q.workers.Add(1)
			go q.worker()
		}
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
