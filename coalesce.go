package redstream

import (
	"context"
	"sync"

	"github.com/redis/rueidis"
)

// coalesceLimit is how many Publish calls may wait for the next send; one
// send carries them all in one pipeline.
const coalesceLimit = batchChunk

// coalescer sends the XADDs of concurrent Publish calls together, as a
// group commit: a call that finds no send in flight sends its command at
// once, alone; calls that arrive while a send is in flight queue up, and
// all that queued go together in one DoMulti when it ends. Under light
// load nothing waits for anything; under heavy load each round trip
// carries everything that arrived during the previous one.
//
// At most one send is in flight. The first is made by the caller itself,
// on its own ctx, as a plain Do; the queued calls are sent by a flusher
// goroutine that lives only while there is a queue to send.
type coalescer struct {
	client rueidis.Client
	limit  int // queued calls at most; coalesceLimit outside tests

	mu    sync.Mutex
	busy  bool          // a send is in flight: new calls queue
	queue *batch        // the calls for the next send, or nil
	room  chan struct{} // closed when a full queue is taken; nil if none waits
	last  int           // how many calls the last queue held, to size the next
}

// batch is the calls queued for one send, in the order they came. Callers
// wait for done; the flusher sets results, one per call, then closes it.
// Until the flusher takes the batch (under mu) callers may mark theirs
// gone; after that only the flusher writes, until done is closed.
type batch struct {
	cmds    rueidis.Commands
	gone    []bool // the caller gave up before the send: do not send it
	ngone   int
	results []rueidis.RedisResult
	done    chan struct{}
}

func newCoalescer(client rueidis.Client) *coalescer {
	return &coalescer{client: client, limit: coalesceLimit}
}

// send writes cmd, an XADD, and returns the ID Redis assigned. See
// Publisher.Publish for what happens when ctx ends.
func (c *coalescer) send(ctx context.Context, cmd rueidis.Completed) (string, error) {
	c.mu.Lock()
	for {
		if !c.busy {
			// Nothing in flight, so nothing is queued either (a send that
			// ends hands on its queue): send now, on the caller's ctx.
			c.busy = true
			c.mu.Unlock()
			id, err := c.client.Do(ctx, cmd).ToString()
			c.handOn()
			return id, err
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

// handOn ends a caller's own send: the calls queued meanwhile go to a
// flusher, or the coalescer becomes idle.
func (c *coalescer) handOn() {
	if q := c.take(); q != nil {
		go c.flush(q) // the caller's result must not wait for others'
	}
}

// take returns the queue for the next send, or marks the coalescer idle
// and returns nil when nothing is queued.
func (c *coalescer) take() *batch {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queue
	if q == nil {
		c.busy = false
		return nil
	}
	c.queue, c.last = nil, len(q.cmds)
	if c.room != nil {
		close(c.room)
		c.room = nil
	}
	return q
}

// flush sends queued calls in one DoMulti and hands each its own result,
// then goes on with the calls queued meanwhile until none are left. It
// sends on a context of its own, not one of the callers': a caller that
// gives up must not fail the others. A send to a server that stops
// answering ends when the client gives up on the connection (rueidis'
// ConnWriteTimeout); callers waiting meanwhile leave when their ctx ends.
func (c *coalescer) flush(q *batch) {
	var scratch rueidis.Commands
	for ; q != nil; q = c.take() {
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
