package redstream

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/backoff"
)

// connBackoff paces retries after Redis errors: 50ms doubling to 5s.
var connBackoff = backoff.Policy{Base: 50 * time.Millisecond, Max: 5 * time.Second}

// leaseKey names a pending entry.
type leaseKey struct{ stream, id string }

// leaseSet holds the entries this consumer is handling or waiting to
// retry; their idle time is kept fresh so that no other consumer claims
// them.
type leaseSet struct {
	mu sync.Mutex
	m  map[leaseKey]struct{}
}

func (l *leaseSet) add(m *Message) {
	l.mu.Lock()
	l.m[leaseKey{m.Stream, m.ID}] = struct{}{}
	l.mu.Unlock()
}

func (l *leaseSet) remove(m *Message) {
	l.mu.Lock()
	delete(l.m, leaseKey{m.Stream, m.ID})
	l.mu.Unlock()
}

func (l *leaseSet) has(stream, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.m[leaseKey{stream, id}]
	return ok
}

func (l *leaseSet) byStream() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string][]string)
	for k := range l.m {
		out[k.stream] = append(out[k.stream], k.id)
	}
	return out
}

// scheduleRetry handles m again after delay. The entry stays pending and
// leased to this consumer meanwhile.
func (c *Consumer) scheduleRetry(m *Message, delay time.Duration) {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	select {
	case <-c.stopping: // stays pending: resumed by this name or claimed by another
		c.leases.remove(m)
		return
	default:
	}
	c.retryTimers[m] = time.AfterFunc(delay, func() {
		c.retryMu.Lock()
		if _, ok := c.retryTimers[m]; !ok {
			c.retryMu.Unlock()
			return
		}
		delete(c.retryTimers, m)
		c.retryDue[m.Stream] = append(c.retryDue[m.Stream], m)
		c.retryMu.Unlock()
		c.wakeReader(m.Stream)
	})
}

// dropRetries forgets the retries not yet due; their entries stay pending.
func (c *Consumer) dropRetries() {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	for m, t := range c.retryTimers {
		t.Stop()
		c.leases.remove(m)
	}
	clear(c.retryTimers)
	for _, due := range c.retryDue {
		for _, m := range due {
			c.leases.remove(m)
		}
	}
	clear(c.retryDue)
}

// cancelRetry forgets a scheduled retry of the entry, which another
// consumer has taken over.
func (c *Consumer) cancelRetry(stream, id string) {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	for m, t := range c.retryTimers {
		if m.Stream == stream && m.ID == id {
			t.Stop()
			delete(c.retryTimers, m)
		}
	}
}

// takeRetries removes up to n due retries of stream from the queue.
func (c *Consumer) takeRetries(stream string, n int) []*Message {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	due := c.retryDue[stream]
	k := min(n, len(due))
	out := append([]*Message(nil), due[:k]...)
	c.retryDue[stream] = due[k:]
	return out
}

// hasRetries reports whether stream has retries due.
func (c *Consumer) hasRetries(stream string) bool {
	c.retryMu.Lock()
	defer c.retryMu.Unlock()
	return len(c.retryDue[stream]) > 0
}

// retryPage claims due retries back for this consumer, up to n, in the
// reader's turn (so they use the handler slots the reader holds). XCLAIM
// counts the new delivery and returns each entry as it is now, under its
// original ID.
func (c *Consumer) retryPage(stream string, n int) []*Message {
	var msgs []*Message
	for _, m := range c.takeRetries(stream, n) {
		again, err := c.claimForRetry(m)
		if err != nil {
			c.log.Error("redstream: claiming an entry for retry failed; trying later", "stream", m.Stream, "id", m.ID, "err", err)
			c.scheduleRetry(m, connBackoff.Delay(3))
			continue
		}
		if again == nil {
			c.leases.remove(m)
			continue
		}
		c.retried.Add(1)
		msgs = append(msgs, again)
	}
	return msgs
}

// wakeReader interrupts the blocked read of stream's reader, so that it
// turns to what became due (a retry).
func (c *Consumer) wakeReader(stream string) {
	c.readersMu.Lock()
	r := c.readers[stream]
	c.readersMu.Unlock()
	if r != nil {
		r.unblock()
	}
}

func (c *Consumer) claimForRetry(m *Message) (*Message, error) {
	entries, gone, err := c.claimOwn(c.readCtx, m.Stream, []string{m.ID})
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		// Its data is gone: nothing to retry; make sure it leaves the
		// pending list.
		c.acks <- ackReq{stream: m.Stream, id: m.ID}
	}
	if len(entries) == 0 {
		return nil, nil // gone, acknowledged elsewhere, or taken over by another consumer
	}
	return newMessage(m.Stream, entries[0], m.Deliveries+1), nil
}

// extendScript refreshes the idle time of the entries this consumer still
// owns, without counting a delivery (XCLAIM JUSTID), and returns those it
// no longer owns. Checking the owner first keeps it from taking back an
// entry another consumer has claimed meanwhile.
var extendScript = rueidis.NewLuaScript(`
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
`)

// leaseLoop keeps the leased entries fresh every third of ClaimMinIdle
// until stop is closed.
func (c *Consumer) leaseLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(max(c.cfg.claimMinIdle/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-stop:
			return
		case <-c.hard.Done():
			return
		}
		for stream, ids := range c.leases.byStream() {
			for len(ids) > 0 {
				k := min(len(ids), 256)
				args := append([]string{c.group, c.cfg.name}, ids[:k]...)
				ids = ids[k:]
				lost, err := extendScript.Exec(c.hard, c.client, []string{stream}, args).AsStrSlice()
				if err != nil {
					if c.hard.Err() == nil {
						c.log.Error("redstream: extending leases failed", "stream", stream, "err", err)
					}
					continue
				}
				for _, id := range lost {
					c.log.Warn("redstream: an entry this consumer was handling was taken over by another consumer", "stream", stream, "id", id)
					c.leases.remove(&Message{Stream: stream, ID: id})
					c.cancelRetry(stream, id)
				}
			}
		}
	}
}

// claimer is a stream reader's state for taking over idle entries: every
// ClaimInterval it walks the group's whole pending list with XAUTOCLAIM,
// one page per turn of the read loop, carrying the cursor forward. It runs
// in the reader's turn so it uses the handler slots the reader has just
// acquired: an idle consumer has them all, a busy one none to spare.
type claimer struct {
	enabled bool
	cursor  string
	next    time.Time // when the next walk starts
	minIdle string
}

func newClaimer(c *Consumer) claimer {
	on := c.server.AtLeast(6, 2)
	if !on {
		c.log.Warn("redstream: the server has no XAUTOCLAIM (Redis 6.2+); entries of dead consumers are not taken over", "server", c.server.String())
	}
	return claimer{
		enabled: on,
		cursor:  "0-0",
		next:    time.Now(), // a consumer that starts looks at once
		minIdle: strconv.FormatInt(c.cfg.claimMinIdle.Milliseconds(), 10),
	}
}

// due reports whether a claim page should be read now.
func (cl *claimer) due() bool { return cl.enabled && !time.Now().Before(cl.next) }

// blockFor shortens a read's block so that a due claim is not delayed by
// an idle stream.
func (cl *claimer) blockFor(block time.Duration) time.Duration {
	if !cl.enabled {
		return block
	}
	return max(min(block, time.Until(cl.next)), time.Millisecond)
}

// reclaimPage claims up to n entries idle longer than ClaimMinIdle from
// the next page of the pending list. At the end of a walk it also removes
// idle consumers that hold nothing, and schedules the next walk.
func (c *Consumer) reclaimPage(stream string, cl *claimer, n int) ([]*Message, error) {
	cmd := c.client.B().Xautoclaim().Key(stream).Group(c.group).Consumer(c.cfg.name).MinIdleTime(cl.minIdle).Start(cl.cursor).Count(int64(n)).Build()
	next, msgs, err := c.autoclaim(stream, cmd)
	if err != nil {
		return nil, err
	}
	if next == "0-0" || next == "" {
		cl.cursor = "0-0"
		cl.next = time.Now().Add(c.cfg.claimInterval)
		if c.cfg.deleteIdle > 0 {
			if err := c.deleteIdleConsumers(stream); err != nil && c.readCtx.Err() == nil {
				c.log.Error("redstream: removing idle consumers failed", "stream", stream, "err", err)
			}
		}
	} else {
		cl.cursor = next
	}
	mine := msgs[:0]
	for _, m := range msgs {
		if !c.leases.has(m.Stream, m.ID) { // not ours already (handled, or waiting to retry)
			mine = append(mine, m)
		}
	}
	if len(mine) > 0 {
		c.reclaimed.Add(int64(len(mine)))
		c.cfg.metrics.Reclaimed(stream, c.group, len(mine))
		c.log.Info("redstream: took over idle entries", "stream", stream, "count", len(mine))
	}
	return mine, nil
}

// autoclaim runs one XAUTOCLAIM and returns the next cursor and the
// claimed entries with their delivery counts. Entries whose data is gone
// are acknowledged away (Redis 7 drops them itself).
func (c *Consumer) autoclaim(stream string, cmd rueidis.Completed) (string, []*Message, error) {
	arr, err := c.client.Do(c.readCtx, cmd).ToArray()
	if err != nil {
		return "", nil, wrapErr("xautoclaim", stream+" "+c.group, err)
	}
	if len(arr) < 2 {
		return "", nil, wrapErr("xautoclaim", stream, errors.New("unexpected reply"))
	}
	next, _ := arr[0].ToString()
	raw, err := arr[1].ToArray()
	if err != nil {
		return "", nil, wrapErr("xautoclaim", stream, err)
	}
	var entries []rueidis.XRangeSlice
	vanished := false
	for i := range raw {
		if raw[i].IsNil() {
			vanished = true // Redis 6.2: a deleted entry, now pending with us
			continue
		}
		e, err := raw[i].AsXRangeSlice()
		if err != nil {
			return "", nil, wrapErr("xautoclaim", stream, err)
		}
		if e.FieldValues == nil {
			vanished = true
			continue
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 && !vanished {
		return next, nil, nil
	}
	// XAUTOCLAIM does not say how often each entry was delivered; the
	// pending list does.
	counts := map[string]int{}
	if len(entries) > 0 || vanished {
		first, last := "-", "+"
		if !vanished {
			first, last = entries[0].ID, entries[len(entries)-1].ID
		}
		rows, err := c.client.Do(c.readCtx, c.client.B().Xpending().Key(stream).Group(c.group).
			Start(first).End(last).Count(int64(len(raw))+int64(c.cfg.concurrency)).Consumer(c.cfg.name).Build()).ToArray()
		if err != nil {
			return "", nil, wrapErr("xpending", stream+" "+c.group, err)
		}
		for _, row := range rows {
			cols, err := row.ToArray()
			if err != nil || len(cols) < 4 {
				continue
			}
			id, _ := cols[0].ToString()
			n, _ := cols[3].AsInt64()
			counts[id] = int(n)
		}
	}
	msgs := make([]*Message, 0, len(entries))
	found := make(map[string]bool, len(entries))
	for _, e := range entries {
		found[e.ID] = true
		d := counts[e.ID]
		if d < 1 {
			d = 1
		}
		msgs = append(msgs, newMessage(stream, e, d))
	}
	if vanished {
		for id := range counts {
			if !found[id] && !c.leases.has(stream, id) {
				c.acks <- ackReq{stream: stream, id: id}
			}
		}
	}
	return next, msgs, nil
}

// deleteIdleConsumers removes the group's consumers, other than this one,
// that were inactive longer than DeleteIdleConsumers and hold nothing.
// Consumers that hold entries are left alone: the reclaim takes their
// entries first, and a later round removes them.
func (c *Consumer) deleteIdleConsumers(stream string) error {
	rows, err := c.client.Do(c.readCtx, c.client.B().XinfoConsumers().Key(stream).Group(c.group).Build()).ToArray()
	if err != nil {
		return wrapErr("xinfo consumers", stream+" "+c.group, err)
	}
	for _, row := range rows {
		m, err := row.AsMap()
		if err != nil {
			continue
		}
		name := str(m["name"])
		idle := integer(m["idle"])
		if in, ok := m["inactive"]; ok { // Redis 7.2+: since its last successful read or claim
			if v, err := in.AsInt64(); err == nil && v >= 0 {
				idle = v
			}
		}
		if name == c.cfg.name || integer(m["pending"]) > 0 || time.Duration(idle)*time.Millisecond < c.cfg.deleteIdle {
			continue
		}
		_, err = NewInspector(c.client).DeleteConsumer(c.readCtx, stream, c.group, name, false)
		switch {
		case errors.Is(err, ErrHasPending), errors.Is(err, ErrNoConsumer):
			continue // it read or went meanwhile: nothing to do
		case err != nil:
			return err
		default:
			c.log.Info("redstream: removed an idle consumer with no pending entries", "stream", stream, "removed", name, "idle", time.Duration(idle)*time.Millisecond)
		}
	}
	return nil
}

// claimOwnScript claims entries back for this consumer only where it still
// owns them, counting a delivery, and returns {entries, gone}: the data of
// those it claimed, and the IDs it owned whose data no longer exists.
var claimOwnScript = rueidis.NewLuaScript(`
local out, gone = {}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if #p == 1 and p[1][2] == ARGV[2] then
    local e = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i])
    if #e == 1 and e[1] and e[1][2] then
      out[#out + 1] = e[1]
    else
      gone[#gone + 1] = ARGV[i]
    end
  end
end
return {out, gone}
`)

// claimOwn runs claimOwnScript for ids of stream.
func (c *Consumer) claimOwn(ctx context.Context, stream string, ids []string) ([]rueidis.XRangeSlice, []string, error) {
	args := append([]string{c.group, c.cfg.name}, ids...)
	arr, err := claimOwnScript.Exec(ctx, c.client, []string{stream}, args).ToArray()
	if err != nil {
		return nil, nil, wrapErr("xclaim", stream+" "+c.group, err)
	}
	if len(arr) != 2 {
		return nil, nil, wrapErr("xclaim", stream, errors.New("unexpected reply"))
	}
	entries, err := entriesOf(&arr[0])
	if err != nil {
		return nil, nil, wrapErr("xclaim", stream, err)
	}
	gone, _ := arr[1].AsStrSlice()
	return entries, gone, nil
}
