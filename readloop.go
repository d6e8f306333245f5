package redstream

import (
	"context"
	"errors"
	"time"

	"github.com/redstream-go/redstream/internal/backoff"
)

// The Consumer's read loop: one per stream, taking room for each read,
// then reading its own pending entries, due retries, claims or new entries.

// reserve waits until there is room for a read, takes it, and returns
// how many entries may be read (at most BatchSize); 0 once the consumer
// stops. What the read does not fill is given back with unreserve. Any
// idle handler is room, but while the stream has a backlog (the last read
// came back full) the reader waits a moment, up to AckInterval, for half
// a read's worth: reading whenever a single handler is done would make a
// busy consumer's reads a round trip per entry.
func (c *Consumer) reserve(room chan struct{}, backlog bool, t *time.Timer) int {
	patient := backlog
	limit := c.capacity
	if backlog && c.batches != nil && len(c.rooms) == 1 {
		// A batch consumer of one stream reads one batch ahead while the
		// stream has a backlog, so that Redis serves the next read while
		// the handler runs instead of both taking turns. Entries it holds
		// ahead then keep no other consumer waiting: there are more behind
		// them. (With several streams, room read ahead for one would starve
		// the others' readers.)
		limit += c.slot
	}
	for {
		in := c.inHand.Load()
		free := limit - int(in)
		if free >= c.slot && (!patient || in == 0 || free >= c.lowWater()) {
			n := c.slot // a batch slot
			if c.batches == nil {
				n = min(free, c.cfg.batch)
			}
			if c.inHand.CompareAndSwap(in, in+int64(n)) {
				if c.batches != nil {
					return c.cfg.batch
				}
				return n
			}
			continue // another reader took room meanwhile
		}
		var timeout <-chan time.Time
		need := c.slot
		if patient && free >= c.slot {
			t.Reset(c.cfg.ackInterval)
			timeout = t.C
			need = c.lowWater()
		}
		c.waiting.Add(1)
		// Wake when that much is free, not at every entry done (see done);
		// look again after saying so, in case it became free meanwhile.
		c.wakeAt.Store(int64(limit - need))
		if limit-int(c.inHand.Load()) >= need {
			c.waiting.Add(-1)
			if timeout != nil && !t.Stop() {
				select { // drain a fire that raced the look
				case <-t.C:
				default:
				}
			}
			continue
		}
		select {
		case <-room:
		case <-timeout:
			patient = false
		case <-c.life.stopping:
			c.waiting.Add(-1)
			return 0
		case <-c.life.hard.Done():
			c.waiting.Add(-1)
			return 0
		}
		c.waiting.Add(-1)
		if timeout != nil && !t.Stop() {
			select { // drain a fire that raced the other case
			case <-t.C:
			default:
			}
		}
	}
}

// yield waits until room is given back once (or a moment passes), so
// that a reader waiting for room gets it first.
func (c *Consumer) yield(room chan struct{}) {
	select { // the wake-up of our own unreserve
	case <-room:
	default:
	}
	t := time.NewTimer(c.cfg.block)
	defer t.Stop()
	select {
	case <-room:
	case <-t.C:
	case <-c.life.stopping:
	case <-c.life.hard.Done():
	}
}

// unreserve gives back the room of a read of n that brought got entries.
func (c *Consumer) unreserve(n, got int) {
	switch {
	case c.batches == nil && got < n:
		c.done(n - got)
	case c.batches != nil && got == 0:
		c.done(c.slot)
	}
}

// readLoop reads one stream until the consumer stops. It first resumes the
// entries this consumer already holds in the group, then reads new ones;
// due retries and claims of idle entries take their turns between reads.
// It returns an error only for what retrying cannot fix.
func (c *Consumer) readLoop(stream string, room chan struct{}) error {
	log := c.log.With("stream", stream)
	rd := newStreamReader(c.client, stream, c.group, c.cfg.name, c.life.stopping, c.life.readCtx, c.life.hard)
	c.readersMu.Lock()
	c.readers[stream] = rd
	c.readersMu.Unlock()
	defer func() {
		c.readersMu.Lock()
		delete(c.readers, stream)
		c.readersMu.Unlock()
		rd.close()
	}()
	claims := newClaimer(c)
	resume := "-"  // entries held by this consumer's name from an earlier run
	lastSeen := "" // the highest new ID handed to a handler
	retry := backoff.Counter{Policy: connBackoff}
	backlog := false // the last read of new entries came back full
	patience := time.NewTimer(time.Hour)
	patience.Stop()
	for {
		n := c.reserve(room, backlog, patience)
		if n == 0 {
			break
		}
		if c.life.isStopping() {
			c.unreserve(n, 0)
			break
		}
		var msgs []*Message
		var err error
		fresh, full := false, false // read with ">": never delivered before; a full first read
		switch {
		case resume == "" && c.retries.hasDue(stream):
			msgs = c.retryPage(stream, n)
		case resume != "":
			var last string
			msgs, last, err = c.readOwnPending(c.life.readCtx, stream, resume, n)
			if err == nil {
				if last == "" {
					resume = "" // all resumed: read new entries from now on
				} else {
					resume = nextID(last)
				}
			}
		case claims.due():
			msgs, err = c.reclaimPage(stream, &claims, n)
		default:
			msgs, full, err = c.readNew(rd, n, claims.blockFor(c.cfg.block))
			fresh = true
		}
		c.unreserve(n, len(msgs))
		if err != nil {
			if c.life.readCtx.Err() != nil {
				break // stopping
			}
			switch {
			case errors.Is(err, ErrNotStream), errors.Is(err, ErrAuth), errors.Is(err, ErrNoPermission):
				return err
			case errors.Is(err, ErrNoGroup):
				if cerr := c.regroup(stream, lastSeen); cerr != nil {
					log.Error("redstream: re-creating consumer group failed", "err", cerr)
					c.life.sleep(retry.Next())
				}
			default:
				c.cfg.metrics.ReadError(stream, c.group, err)
				log.Error("redstream: reading the stream failed; retrying", "err", err, "retry_in", retry.Peek())
				c.life.sleep(retry.Next())
			}
			continue
		}
		retry.Reset()
		c.dispatch(msgs)
		if fresh {
			backlog = full
			if len(msgs) > 0 {
				lastSeen = msgs[len(msgs)-1].ID
			} else if c.waiting.Load() > 0 {
				// An idle stream's read held room another stream's reader
				// waits for: let it have the room before reading again.
				c.yield(room)
			}
		}
	}
	if c.life.hard.Err() != nil || resume != "" {
		return nil
	}
	c.handleDeliveredAtStop(stream, lastSeen)
	return nil
}

// readNew reads up to n new entries, sending the stream's waiting acks in
// the same round trip. A batch consumer with BatchWait reads on until the
// batch is full or the wait is over. full says whether the first read
// came back full: the stream has a backlog (a batch filled by waiting on a
// trickle is no backlog).
func (c *Consumer) readNew(rd *streamReader, n int, block time.Duration) (msgs []*Message, full bool, err error) {
	msgs, err = c.readWithAcks(rd, n, block)
	full = len(msgs) >= n
	if err != nil || c.cfg.batchWait <= 0 || len(msgs) == 0 || full {
		return msgs, full, err
	}
	deadline := time.Now().Add(c.cfg.batchWait)
	for len(msgs) < n && !c.life.isStopping() {
		wait := time.Until(deadline)
		if wait < time.Millisecond {
			break
		}
		more, err := c.readWithAcks(rd, n-len(msgs), wait)
		if err != nil {
			// What was read is handled; the error comes back next read.
			break
		}
		msgs = append(msgs, more...)
	}
	return msgs, false, nil
}

func (c *Consumer) readWithAcks(rd *streamReader, n int, block time.Duration) ([]*Message, error) {
	// Acks ride with the read unless XACKs fail (then the acker alone
	// retries them, with backoff), or the read may be canceled by a stop
	// (a server without CLIENT UNBLOCK): an XACK applied but its reply
	// lost would be counted as never confirmed.
	var acks []string
	if !c.acker.failing.Load() && rd.unblockable() {
		acks = c.acker.take(rd.stream)
	}
	if c.waiting.Load() > 0 {
		block = 0 // another reader waits for the room this read holds: do not sit on it
	}
	msgs, acked, ackErr, err := rd.read(n, block, acks)
	if ackErr != nil {
		c.acker.failing.Store(true)
		// A read canceled by a stop takes its acks with it: they go with
		// the acker's last flush, and are no failure worth a word.
		if c.life.readCtx.Err() == nil {
			c.log.Error("redstream: acknowledging entries failed; will retry", "stream", rd.stream, "err", ackErr)
		}
		c.acker.putBack(rd.stream, acks)
	} else if len(acks) > 0 {
		c.acked.Add(acked)
		c.held.removeIDs(rd.stream, acks)
	}
	return msgs, err
}

// handleDeliveredAtStop handles what the last read may have handed over
// unseen. Where CLIENT UNBLOCK was refused, that read was abandoned by
// closing its connection, and the server may have answered it anyway:
// entries it handed over sit in this consumer's pending list with IDs
// above any seen. Look, and handle them rather than strand them. This is
// bounded in time: a stalled server must not hold up the shutdown.
func (c *Consumer) handleDeliveredAtStop(stream, lastSeen string) {
	ctx, cancel := context.WithTimeout(c.life.hard, 2*time.Second)
	defer cancel()
	from := "-"
	if lastSeen != "" {
		from = nextID(lastSeen)
	}
	for {
		msgs, last, err := c.readOwnPending(ctx, stream, from, c.cfg.batch)
		if err != nil {
			if c.life.hard.Err() == nil {
				c.log.Error("redstream: checking for entries delivered during shutdown failed; they stay pending", "stream", stream, "err", err)
			}
			return
		}
		if last == "" {
			return
		}
		// Handled beyond the room: the stop is the last chance.
		if c.batches == nil {
			c.inHand.Add(int64(len(msgs)))
		} else {
			c.inHand.Add(int64(c.slot * ((len(msgs) + c.cfg.batch - 1) / c.cfg.batch)))
		}
		c.dispatch(msgs)
		from = nextID(last)
	}
}
