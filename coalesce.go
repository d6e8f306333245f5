package redstream

import (
	"context"
	"sync"

	"github.com/redis/rueidis"
)

// coalesceLimit is how many Publish calls may wait for the next send; one
// send carries them all in one pipeline.
const coalesceLimit = batchChunk

// coalesceAlone is how many callers may send alone at once, while no
// flush is in flight, before further calls queue. With one, a pure group
// commit, every call that overlaps another waits for the rest of the
// other's round trip: in an open loop at 2,000 calls/s, which arrive in
// small bursts, more than half did. With eight, calls queue only in
// bursts of more than eight (about 1% of them in that loop, after a
// stall), so light load sees the latency of the plain Do that Publish
// made before. Under load it makes no difference: the flusher is then in
// flight nearly all the time, and every call queues behind it.
const coalesceAlone = 8

// coalescer sends the XADDs of concurrent Publish calls together, as a
// group commit: a call that finds no flush in flight, nothing queued and
// fewer than coalesceAlone callers' sends in flight sends its command at
// once, alone, on its own ctx; other calls queue, and all that queued go
// together in one DoMulti, sent by the flusher as soon as a send ends.
// While the flusher has a DoMulti in flight every new call queues, so
// under load each round trip carries everything that arrived during the
// previous one. No timer is involved: under light load nothing waits for
// company.
//
// The flusher is one goroutine, started by a caller's send that ends with
// calls queued, and it ends when it finds no call queued.
type coalescer struct {
	client rueidis.Client
	limit  int // queued calls at most; coalesceLimit outside tests
	alone  int // callers' own sends in flight at most; coalesceAlone outside tests

	mu       sync.Mutex
	sending  int           // callers' own sends in flight
	flushing bool          // the flusher is running; it takes every queue
	queue    *batch        // the calls for the next DoMulti, or nil
	room     chan struct{} // closed when a full queue is taken; nil if none waits
	last     int           // how many calls the last queue held, to size the next
}

// batch is the calls queued for one DoMulti, in the order they came.
// Callers wait for done; the flusher sets results, one per call, then
// closes it. Until the flusher takes the batch (under mu) callers may mark
// theirs gone; after that only the flusher writes, until done is closed.
type batch struct {
	cmds    rueidis.Commands
	gone    []bool // the caller gave up before the send: do not send it
	ngone   int
	results []rueidis.RedisResult
	done    chan struct{}
}

func newCoalescer(client rueidis.Client) *coalescer {
	return &coalescer{client: client, limit: coalesceLimit, alone: coalesceAlone}
}

// send writes cmd, an XADD, and returns the ID Redis assigned. See
// Publisher.Publish for what happens when ctx ends.
func (c *coalescer) send(ctx context.Context, cmd rueidis.Completed) (string, error) {
	c.mu.Lock()
	for {
		if c.queue == nil && !c.flushing && c.sending < c.alone {
			c.sending++
			c.mu.Unlock()
			return c.sendAlone(ctx, cmd)
		}
		if c.queue == nil || len(c.queue.cmds) < c.limit {
			break
		}
		// The queue is full: Redis is slower than the callers. Wait for the
		// flusher to take it, holding no memory for more.
		if c.room == nil {
			c.room = make(chan struct{})
		}
		room := c.room
		c.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		c.mu.Lock()
	}
	q := c.queue
	if q == nil {
		q = &batch{cmds: make(rueidis.Commands, 0, max(c.last, 8)), done: make(chan struct{})}
		c.queue = q
	}
	i := len(q.cmds)
	q.cmds = append(q.cmds, cmd)
	c.mu.Unlock()

	select {
	case <-q.done:
		return q.results[i].ToString()
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.queue == q { // not taken yet: it will never be sent
		if q.gone == nil {
			q.gone = make([]bool, c.limit)
		}
		q.gone[i] = true
		q.ngone++
		c.mu.Unlock()
		return "", ctx.Err()
	}
	c.mu.Unlock()
	select { // sent: its result may have come in the meantime
	case <-q.done:
		return q.results[i].ToString()
	default:
		return "", ctx.Err()
	}
}

// sendAlone sends cmd on the caller's ctx, as a plain Do, and afterwards
// starts the flusher for calls that queued meanwhile if none is running.
func (c *coalescer) sendAlone(ctx context.Context, cmd rueidis.Completed) (string, error) {
	id, err := c.client.Do(ctx, cmd).ToString()
	c.mu.Lock()
	c.sending--
	start := c.queue != nil && !c.flushing
	if start {
		c.flushing = true
	}
	c.mu.Unlock()
	if start {
		go c.flush() // the caller's result must not wait for others'
	}
	return id, err
}

// take returns the queue for the next DoMulti, or ends the flusher and
// returns nil when nothing is queued.
func (c *coalescer) take() *batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	if q == nil {
		c.flushing = false
		return nil
	}
	c.queue, c.last = nil, len(q.cmds)
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	return q
}

// flush sends each queue in one DoMulti and hands each call its own
// result, until no call is queued. It sends on a context of its own, not
// one of the callers': a caller that gives up must not fail the others. A
// send to a server that stops answering ends when the client gives up on
// the connection (rueidis' ConnWriteTimeout); callers waiting meanwhile
// leave when their ctx ends.
func (c *coalescer) flush() {
	var scratch rueidis.Commands
	for q := c.take(); q != nil; q = c.take() {
		if q.ngone == 0 {
			// DoMulti returns one result per command, in the commands'
			// order; a cluster client would split them by slot and put
			// the results back in order, but there a coalescer serves one
			// slot (see Publisher.coalescer).
			q.results = c.client.DoMulti(context.Background(), q.cmds...)
		} else {
			q.results, scratch = c.sendSome(q, scratch)
		}
		clear(q.cmds) // sent: the client recycles them
		close(q.done)
	}
}

// sendSome sends the calls of q that are not gone and returns one result
// per call of q; the gone ones get none (nobody reads them).
func (c *coalescer) sendSome(q *batch, scratch rueidis.Commands) ([]rueidis.RedisResult, rueidis.Commands) {
	scratch = scratch[:0]
	for i, cmd := range q.cmds {
		if !q.gone[i] {
			scratch = append(scratch, cmd)
		}
	}
	results := make([]rueidis.RedisResult, len(q.cmds))
	if len(scratch) > 0 {
		sent := c.client.DoMulti(context.Background(), scratch...)
		for i, j := 0, 0; i < len(q.cmds); i++ {
			if !q.gone[i] {
				results[i] = sent[j]
				j++
			}
		}
	}
	clear(scratch)
	return results, scratch
}
