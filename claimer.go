package redstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

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
			if err := c.deleteIdleConsumers(stream); err != nil && c.life.readCtx.Err() == nil {
				c.log.Error("redstream: removing idle consumers failed", "stream", stream, "err", err)
			}
		}
	} else {
		cl.cursor = next
	}
	mine := msgs[:0]
	for _, m := range msgs {
		if !c.held.has(m.Stream, m.ID) { // not ours already (handled, or waiting to retry)
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
	arr, err := c.client.Do(c.life.readCtx, cmd).ToArray()
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
		rows, err := c.client.Do(c.life.readCtx, c.client.B().Xpending().Key(stream).Group(c.group).
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
			if !found[id] && !c.held.has(stream, id) {
				c.acker.add(stream, id)
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
	return idleCleanup{client: c.client, group: c.group, self: c.cfg.name, after: c.cfg.deleteIdle, log: c.log}.run(c.life.readCtx, stream)
}

// idleCleanup removes from a group the consumers other than self that
// were inactive longer than after and hold no pending entries: the names
// that stopped consumers leave behind. Both kinds of consumer use it, a
// TopicConsumer on the partitions it owns.
type idleCleanup struct {
	client rueidis.Client
	group  string
	self   string
	after  time.Duration
	log    *slog.Logger
}

// cleanupEvery is how often a TopicConsumer looks for idle consumers to
// remove, for DeleteIdleConsumers d.
func cleanupEvery(d time.Duration) time.Duration {
	return max(min(d/2, 10*time.Second), 10*time.Millisecond)
}

// run removes the idle consumers of the group on stream. DeleteConsumer
// refuses a consumer that holds entries, so one that read meanwhile is
// never removed with its entries.
func (ic idleCleanup) run(ctx context.Context, stream string) error {
	rows, err := ic.client.Do(ctx, ic.client.B().XinfoConsumers().Key(stream).Group(ic.group).Build()).ToArray()
	if err != nil {
		return wrapErr("xinfo consumers", stream+" "+ic.group, err)
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
		if name == ic.self || integer(m["pending"]) > 0 || time.Duration(idle)*time.Millisecond < ic.after {
			continue
		}
		_, err = NewInspector(ic.client).DeleteConsumer(ctx, stream, ic.group, name, false)
		switch {
		case errors.Is(err, ErrHasPending), errors.Is(err, ErrNoConsumer):
			continue // it read or went meanwhile: nothing to do
		case err != nil:
			return err
		default:
			ic.log.Info("redstream: removed an idle consumer with no pending entries", "stream", stream, "removed", name, "idle", time.Duration(idle)*time.Millisecond)
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

// readOwnPending lists up to n entries this consumer holds from after, and
// claims them again for itself, which counts a new delivery in Redis (so a
// message that crashes its consumer every time is still counted) and
// returns their data. Entries deleted from the stream meanwhile are
// removed from the pending list; entries another consumer took over in
// between are left to it.
// It also returns the last pending ID it listed, "" when there were none.
func (c *Consumer) readOwnPending(ctx context.Context, stream, after string, n int) ([]*Message, string, error) {
	cmd := c.client.B().Xpending().Key(stream).Group(c.group).Start(after).End("+").Count(int64(n)).Consumer(c.cfg.name).Build()
	rows, err := c.client.Do(ctx, cmd).ToArray()
	if err != nil {
		return nil, "", wrapErr("xpending", stream+" "+c.group, err)
	}
	if len(rows) == 0 {
		return nil, "", nil
	}
	ids := make([]string, 0, len(rows))
	deliveries := make(map[string]int, len(rows))
	last := ""
	for _, row := range rows {
		cols, err := row.ToArray()
		if err != nil || len(cols) < 4 {
			return nil, "", wrapErr("xpending", stream+" "+c.group, fmt.Errorf("unexpected reply row"))
		}
		id, _ := cols[0].ToString()
		count, _ := cols[3].AsInt64()
		last = id
		if c.held.has(stream, id) {
			continue // being handled or waiting to retry already
		}
		ids = append(ids, id)
		deliveries[id] = int(count) + 1
	}
	if len(ids) == 0 {
		return nil, last, nil
	}
	entries, gone, err := c.claimOwn(ctx, stream, ids)
	if err != nil {
		return nil, "", err
	}
	msgs := make([]*Message, 0, len(entries))
	for _, e := range entries {
		msgs = append(msgs, newMessage(stream, e, deliveries[e.ID]))
	}
	if len(gone) > 0 {
		// The data is gone (trimmed or deleted): nothing can handle it, and
		// leaving it pending would hand it out forever.
		c.log.Warn("redstream: pending entries no longer exist in the stream; acknowledging them", "stream", stream, "count", len(gone))
		for _, id := range gone {
			c.acker.add(stream, id)
		}
	}
	return msgs, last, nil
}

// retryPage claims due retries back for this consumer, up to n, in the
// reader's turn (so they use the handler slots the reader holds). XCLAIM
// counts the new delivery and returns each entry as it is now, under its
// original ID.
func (c *Consumer) retryPage(stream string, n int) []*Message {
	var msgs []*Message
	for _, m := range c.retries.take(stream, n) {
		again, err := c.claimForRetry(m)
		if err != nil {
			c.log.Error("redstream: claiming an entry for retry failed; trying later", "stream", m.Stream, "id", m.ID, "err", err)
			c.retries.schedule(m, connBackoff.Delay(3))
			continue
		}
		if again == nil {
			c.held.remove(m)
			continue
		}
		c.retried.Add(1)
		msgs = append(msgs, again)
	}
	return msgs
}

func (c *Consumer) claimForRetry(m *Message) (*Message, error) {
	entries, gone, err := c.claimOwn(c.life.readCtx, m.Stream, []string{m.ID})
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		// Its data is gone: nothing to retry; make sure it leaves the
		// pending list.
		c.acker.add(m.Stream, m.ID)
	}
	if len(entries) == 0 {
		return nil, nil // gone, acknowledged elsewhere, or taken over by another consumer
	}
	return newMessage(m.Stream, entries[0], m.Deliveries+1), nil
}
