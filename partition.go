package redstream

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// partitionRun handles one owned partition: the previous owners' pending
// entries first, in order, then new entries, each key's events in turn.
type partitionRun struct {
	tc     *TopicConsumer
	p      int
	gen    int64
	stream string

	halted    chan struct{}
	haltOnce  sync.Once
	done      chan struct{}
	releasing bool            // being handed over (guarded by tc.mu)
	ctx       context.Context // reads; handlers' context is hctx
	cancel    context.CancelFunc
	hctx      context.Context
	hcancel   context.CancelFunc

	reader *streamReader

	mu     sync.Mutex
	queues map[string]*keyQueue
	queued int // entries read and not yet finished
	room   chan struct{}
	keys   sync.WaitGroup
}

type keyQueue struct {
	items    []*Message
	retrying bool // its first event is waiting for a retry
}

func newPartitionRun(tc *TopicConsumer, p int, gen int64) *partitionRun {
	ctx, cancel := context.WithCancel(tc.life.hard)
	hctx, hcancel := context.WithCancel(tc.life.handlers)
	return &partitionRun{
		tc: tc, p: p, gen: gen, stream: tc.topic.Stream(p),
		halted: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel, hctx: hctx, hcancel: hcancel,
		queues: map[string]*keyQueue{}, room: make(chan struct{}, 1),
	}
}

// halt stops reading and starting events; running handlers finish.
func (r *partitionRun) halt() {
	r.haltOnce.Do(func() {
		close(r.halted)
		r.cancel()
	})
}

// lose is halt for a partition no longer held: running handlers' context
// is canceled too.
func (r *partitionRun) lose() {
	r.halt()
	r.hcancel()
}

func (r *partitionRun) isHalted() bool {
	select {
	case <-r.halted:
		return true
	case <-r.tc.life.hard.Done():
		return true
	default:
		return false
	}
}

func (r *partitionRun) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// waitHeld waits while the lease cannot be counted as held (a heartbeat
// is late); it reports false once the run is halted.
func (r *partitionRun) waitHeld() bool {
	for !r.tc.holds(r.p, r.gen) {
		if !r.sleep(10 * time.Millisecond) {
			return false
		}
	}
	return !r.isHalted()
}

func (r *partitionRun) run() {
	defer close(r.done)
	defer r.hcancel()
	defer r.keys.Wait()
	tc := r.tc
	r.reader = newStreamReader(tc.client, r.stream, tc.group, tc.cfg.name, r.halted, r.ctx, tc.life.hard)
	defer r.reader.close()
	log := tc.log.With("partition", r.p)
	registerConsumer(r.ctx, tc.client, tc.server, tc.group, tc.cfg.name, []string{r.stream}, log)
	retry := connBackoffCounter()
	takeover := true
	seen := "" // the highest ID this run was handed: the group had delivered all up to it
	for !r.isHalted() {
		if !r.waitHeld() {
			break
		}
		free := r.waitRoom()
		if free == 0 {
			break
		}
		var msgs []*Message
		var err error
		if takeover {
			msgs, err = r.takeOver(free)
			if err == nil && msgs == nil {
				takeover = false // nothing left of earlier owners: read new entries
				continue
			}
		} else {
			msgs, err = r.readNew(free)
		}
		if err != nil {
			if r.isHalted() {
				break
			}
			takeover = true // a lost reply may have left entries with us: walk again
			if errors.Is(err, ErrNoGroup) {
				err = regroup(r.ctx, tc.client, tc.server, tc.group, tc.cfg.name, r.stream, seen, tc.cfg.startID, log)
				if err == nil {
					continue
				}
			}
			log.Error("redstream: reading a partition failed; retrying", "err", err)
			if !r.sleep(retry.Next()) {
				break
			}
			continue
		}
		retry.Reset()
		for _, m := range msgs {
			seen = laterID(seen, m.ID)
			r.enqueue(m)
		}
	}
}

// waitRoom waits until fewer than BatchSize entries are in hand and
// returns how many more may be read; 0 when halted.
func (r *partitionRun) waitRoom() int {
	for {
		r.mu.Lock()
		blocked := 0 // events held behind a key's retry
		for _, q := range r.queues {
			if q.retrying {
				blocked += len(q.items) - 1
			}
		}
		free := min(r.tc.cfg.batch-(r.queued-blocked), 8*r.tc.cfg.batch-r.queued)
		r.mu.Unlock()
		if free > 0 {
			return free
		}
		select {
		case <-r.room:
		case <-r.halted:
			return 0
		}
	}
}

func (r *partitionRun) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.halted:
		return false
	}
}

// takeOver claims, in ID order, up to n entries pending in the group on
// this partition that are not in hand already: the previous owners'
// (and any this consumer lost track of). It returns nil when none are
// left.
func (r *partitionRun) takeOver(n int) ([]*Message, error) {
	tc := r.tc
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	start := "-"
	for {
		rows, err := tc.client.Do(ctx, tc.client.B().Xpending().Key(r.stream).Group(tc.group).Start(start).End("+").Count(int64(n)).Build()).ToArray()
		if err != nil {
			return nil, wrapErr("xpending", r.stream+" "+tc.group, err)
		}
		if len(rows) == 0 {
			return nil, nil
		}
		var ids []string
		counts := map[string]int{}
		last := ""
		for _, row := range rows {
			cols, err := row.ToArray()
			if err != nil || len(cols) < 4 {
				return nil, wrapErr("xpending", r.stream, errors.New("unexpected reply row"))
			}
			id := str(cols[0])
			last = id
			if r.inHand(id) {
				continue
			}
			ids = append(ids, id)
			counts[id] = int(integer(cols[3])) + 1
		}
		if len(ids) == 0 {
			start = nextID(last)
			continue
		}
		entries, err := asEntries(tc.client.Do(ctx, tc.client.B().Xclaim().Key(r.stream).Group(tc.group).Consumer(tc.cfg.name).MinIdleTime("0").Id(ids...).Build()))
		if err != nil {
			return nil, wrapErr("xclaim", r.stream+" "+tc.group, err)
		}
		found := map[string]bool{}
		msgs := make([]*Message, 0, len(entries))
		for _, e := range entries {
			if e.FieldValues == nil {
				continue
			}
			found[e.ID] = true
			msgs = append(msgs, newMessage(r.stream, e, counts[e.ID]))
		}
		var gone []string
		for _, id := range ids {
			if !found[id] {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 { // trimmed or deleted: nothing to hand over
			_ = tc.client.Do(ctx, tc.client.B().Xack().Key(r.stream).Group(tc.group).Id(gone...).Build()).Error()
		}
		if len(msgs) > 0 {
			return msgs, nil
		}
		start = nextID(last)
	}
}

func (r *partitionRun) inHand(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.queues {
		for _, m := range q.items {
			if m.ID == id {
				return true
			}
		}
	}
	return false
}

// readNew reads up to n new entries, blocking at most Block; halting the
// partition interrupts the read. A reply that comes back after the halt
// leaves its entries pending with this consumer: the next owner takes
// them over, in order.
func (r *partitionRun) readNew(n int) ([]*Message, error) {
	msgs, _, _, err := r.reader.read(n, r.tc.cfg.block, nil)
	return msgs, err
}

// enqueue appends m to its key's queue, starting the key's worker if idle.
// Entries without a key are their own key: they keep no order.
func (r *partitionRun) enqueue(m *Message) {
	k, ok := m.Get(KeyField)
	if !ok {
		k = "\x00" + m.ID
	}
	r.mu.Lock()
	r.queued++
	q, busy := r.queues[k]
	if !busy {
		q = &keyQueue{}
		r.queues[k] = q
	}
	q.items = append(q.items, m)
	r.mu.Unlock()
	if !busy {
		r.keys.Add(1)
		go r.runKey(k, q)
	}
}

// runKey handles a key's events one after another until its queue is
// empty, or the partition is halted (the rest stays pending, in order,
// for the next owner).
func (r *partitionRun) runKey(k string, q *keyQueue) {
	defer r.keys.Done()
	for {
		r.mu.Lock()
		if len(q.items) == 0 || r.isHalted() {
			n := len(q.items)
			delete(r.queues, k)
			r.queued -= n
			r.mu.Unlock()
			r.signalRoom()
			return
		}
		m := q.items[0]
		r.mu.Unlock()
		finished := r.handleInOrder(m)
		r.mu.Lock()
		if !finished {
			// Not acknowledged: the rest of the key must wait behind it,
			// pending, for whoever handles the partition next.
			n := len(q.items)
			delete(r.queues, k)
			r.queued -= n
			r.mu.Unlock()
			r.signalRoom()
			return
		}
		q.items = q.items[1:]
		r.queued--
		r.mu.Unlock()
		r.signalRoom()
	}
}

func (r *partitionRun) signalRoom() {
	select {
	case r.room <- struct{}{}:
	default:
	}
}

// handleInOrder handles m until it succeeds and is acknowledged, or is
// dead-lettered; it reports false when the partition was halted first.
func (r *partitionRun) handleInOrder(m *Message) bool {
	tc := r.tc
	for {
		if !r.waitHeld() {
			return false
		}
		select {
		case tc.sem <- struct{}{}:
		case <-r.halted:
			return false
		}
		if !tc.holds(r.p, r.gen) || r.isHalted() { // it may have lapsed while we waited
			<-tc.sem
			continue
		}
		ctx, span := r.hctx, HandleSpan(nil)
		if tc.calls.tracer != nil {
			ctx, span = tc.calls.traceOne(ctx, m, tc.topic.Name, r.p)
		}
		took, err := tc.calls.one(ctx, tc.handler, m)
		<-tc.sem
		outcome := tc.calls.outcome(m, err)
		if span != nil {
			span.Outcome(0, outcome, err)
			span.End()
		}
		switch outcome {
		case OutcomeAck:
			if !r.ack(m) {
				return false
			}
			tc.handled.Add(1)
			tc.cfg.metrics.Handled(m.Stream, tc.group, OutcomeAck, took)
			return true
		case OutcomeDeadLetter:
			tc.failed.Add(1)
			tc.log.With("partition", r.p, "id", m.ID, "deliveries", m.Deliveries).Warn("redstream: handler failed for good; dead-lettering the event", failAttrs(err)...)
			if !r.deadLetter(m, err) {
				return false
			}
			tc.cfg.metrics.Handled(m.Stream, tc.group, OutcomeDeadLetter, took)
			return true
		}
		tc.failed.Add(1)
		log := tc.log.With("partition", r.p, "id", m.ID, "deliveries", m.Deliveries)
		tc.cfg.metrics.Handled(m.Stream, tc.group, OutcomeRetry, took)
		log.Warn("redstream: handler failed; retrying in order", failAttrs(err)...)
		r.setRetrying(m, true)
		ok := r.sleep(retryDelay(err, tc.cfg.retry, m.Deliveries))
		r.setRetrying(m, false)
		if !ok {
			return false
		}
		m.Deliveries++
	}
}

// deadLetter moves m to the partition's dead-letter stream, retrying only
// that step (never the handler) until it is done or the run is halted.
func (r *partitionRun) deadLetter(m *Message, cause error) bool {
	tc := r.tc
	retry := connBackoffCounter()
	for {
		ctx, cancel := context.WithTimeout(tc.life.hard, 10*time.Second)
		moved, err := deadLetterEntry(ctx, tc.client, tc.group, tc.cfg.name, m.Stream+tc.cfg.deadSuffix, m, cause)
		cancel()
		if err == nil {
			if moved {
				tc.deadLettered.Add(1)
			}
			return true
		}
		tc.log.Error("redstream: dead-lettering failed; retrying", "partition", r.p, "id", m.ID, "err", err)
		if !r.sleep(retry.Next()) {
			return false
		}
	}
}

// setRetrying marks m's key as waiting on a retry: its later events do not
// count against the partition's read budget, so other keys keep flowing.
func (r *partitionRun) setRetrying(m *Message, on bool) {
	k, ok := m.Get(KeyField)
	if !ok {
		k = "\x00" + m.ID
	}
	r.mu.Lock()
	if q := r.queues[k]; q != nil {
		q.retrying = on
	}
	r.mu.Unlock()
	if !on {
		r.signalRoom()
	}
}

// ack acknowledges m before the next event of its key starts, retrying
// while the partition is held. Unlike a Consumer's, a topic event's ack is
// waited for, because the next event of its key must not start before it:
// a crash in between would hand the acknowledged-too-late event to the
// next owner after a later one. Keys that finish together, in any of the
// consumer's partitions, share a round of XACKs (see ackGroup).
func (r *partitionRun) ack(m *Message) bool {
	tc := r.tc
	retry := connBackoffCounter()
	for {
		err := tc.acks.ack(tc.life.hard, m.Stream, m.ID)
		if err == nil {
			return true
		}
		if tc.life.hard.Err() != nil || r.isHalted() {
			return false
		}
		tc.log.Error("redstream: acknowledging an event failed; retrying", "partition", r.p, "id", m.ID, "err", err)
		if !r.sleep(retry.Next()) {
			return false
		}
	}
}

// ackGroup acknowledges a topic consumer's events in groups, across its
// partitions: whoever acks while no round of XACKs is on its way sends
// one at once, with its own ID only, and the IDs that arrive meanwhile, of
// any partition, go together in the next round (one XACK per partition
// stream, in one pipeline). One round is on its way at a time, so no ack
// waits for a timer, and under load a round trip acknowledges an event of
// every busy key.
type ackGroup struct {
	client rueidis.Client
	group  string
	turn   chan struct{} // a round returned: the next may go

	mu      sync.Mutex
	sending bool
	next    *ackBatch // the IDs waiting for the next round
}

func newAckGroup(client rueidis.Client, group string) *ackGroup {
	return &ackGroup{client: client, group: group, turn: make(chan struct{}, 1)}
}

type ackBatch struct {
	ids   map[string][]string // stream -> IDs
	errs  map[string]error    // stream -> its XACK's error; set before done closes
	taken bool                // a sender has it
	done  chan struct{}
}

// ackTimeout bounds one round of XACKs: a stalled server fails it, and
// every event in it is acknowledged again.
const ackTimeout = 5 * time.Second

// ack sends id of stream in the next round and returns once Redis
// answered its XACK.
func (g *ackGroup) ack(ctx context.Context, stream, id string) error {
	g.mu.Lock()
	b := g.next
	if b == nil {
		b = &ackBatch{ids: make(map[string][]string), done: make(chan struct{})}
		g.next = b
	}
	b.ids[stream] = append(b.ids[stream], id)
	for woken := false; ; woken = true {
		if b.taken {
			// Had it the turn, it must pass it on, or the next round's
			// waiters would sleep until their context ends.
			if woken && g.next != nil && !g.sending {
				signal(g.turn)
			}
			g.mu.Unlock()
			select {
			case <-b.done:
				return b.errs[stream]
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if !g.sending {
			g.sending, b.taken, g.next = true, true, nil
			g.mu.Unlock()
			g.send(ctx, b)
			g.mu.Lock()
			g.sending = false
			more := g.next != nil
			g.mu.Unlock()
			if more {
				signal(g.turn)
			}
			return b.errs[stream]
		}
		g.mu.Unlock()
		select {
		case <-b.done:
			return b.errs[stream]
		case <-g.turn:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.mu.Lock()
	}
}

// send sends b's round: one XACK per stream, in one pipeline.
func (g *ackGroup) send(ctx context.Context, b *ackBatch) {
	defer close(b.done)
	streams := make([]string, 0, len(b.ids))
	cmds := make(rueidis.Commands, 0, len(b.ids))
	for s, ids := range b.ids {
		streams = append(streams, s)
		cmds = append(cmds, g.client.B().Xack().Key(s).Group(g.group).Id(ids...).Build())
	}
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	for i, r := range g.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			if b.errs == nil {
				b.errs = make(map[string]error)
			}
			b.errs[streams[i]] = err
		}
	}
}
