package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/bench"
)

// rawBatch is how many entries each XREADGROUP of the raw loop asks for.
const rawBatch = 1000

// rawConsume measures the consume ceiling with no library in the way: one
// rueidis connection of its own reads a backlog of n entries with
// XREADGROUP COUNT 1000 and acknowledges each batch in the same pipeline
// as the next read, so every round trip carries one XACK and one read:
//
//	XREADGROUP GROUP bench raw COUNT 1000 STREAMS s >
//	XACK s bench <the previous 1000 IDs>; XREADGROUP … (one DoMulti)
//	…
//	XACK s bench <the last IDs>
//
// The backlog is the one the Consumer figures drain (bench.Fill, --size
// payload). No BLOCK: the entries are all there before the clock starts,
// so a read that comes back empty means the backlog ran short, an error.
// Timed from the first read to the last XACK's reply; then nothing may be
// pending in the group.
func rawConsume(ctx context.Context, e *env) error {
	stream, group, n := e.stream("raw-consume"), "bench", e.cfg.N
	if err := bench.Fill(ctx, e.rs, stream, n, e.cfg.Size); err != nil {
		return err
	}
	c := e.rs
	if err := c.Do(ctx, c.B().XgroupCreate().Key(stream).Group(group).Id("0").Build()).Error(); err != nil {
		return err
	}
	var elapsed time.Duration
	err := c.Dedicated(func(dc rueidis.DedicatedClient) error {
		var err error
		elapsed, err = rawLoop(ctx, dc, stream, group, n)
		return err
	})
	if err != nil {
		return err
	}
	left, err := bench.PendingCount(ctx, c, stream, group)
	if err != nil {
		return err
	}
	if left != 0 {
		return fmt.Errorf("raw consume: %d entries still pending after the loop", left)
	}
	e.add("ceiling.consume.raw", sysRaw, rate(fmt.Sprintf("raw loop: XREADGROUP COUNT %d, XACK pipelined with the next read", rawBatch), n, elapsed,
		fmt.Sprintf("backlog %d, 1 dedicated connection, no library", n)))
	return nil
}

// rawLoop reads and acknowledges n entries on dc and returns the time it
// took. Each read's IDs are acknowledged in the pipeline of the next read.
func rawLoop(ctx context.Context, dc rueidis.DedicatedClient, stream, group string, n int) (time.Duration, error) {
	read := func() rueidis.Completed {
		return dc.B().Xreadgroup().Group(group, "raw").Count(rawBatch).Streams().Key(stream).Id(">").Build()
	}
	var ids, prev []string
	got, acked := 0, int64(0)
	start := time.Now()
	for got < n {
		cmds := make(rueidis.Commands, 0, 2)
		if len(prev) > 0 {
			cmds = append(cmds, dc.B().Xack().Key(stream).Group(group).Id(prev...).Build())
		}
		cmds = append(cmds, read())
		res := dc.DoMulti(ctx, cmds...)
		if len(prev) > 0 {
			k, err := res[0].AsInt64()
			if err != nil {
				return 0, fmt.Errorf("xack: %w", err)
			}
			acked += k
		}
		var err error
		ids, err = entryIDs(res[len(res)-1], ids[:0])
		if err != nil {
			return 0, fmt.Errorf("xreadgroup: %w", err)
		}
		if len(ids) == 0 {
			return 0, fmt.Errorf("the backlog ran dry after %d of %d entries", got, n)
		}
		got += len(ids)
		ids, prev = prev, ids // the built XACK holds its own copy of prev's IDs
	}
	k, err := dc.Do(ctx, dc.B().Xack().Key(stream).Group(group).Id(prev...).Build()).AsInt64()
	if err != nil {
		return 0, fmt.Errorf("xack: %w", err)
	}
	elapsed := time.Since(start)
	if acked += k; acked != int64(n) || got != n {
		return 0, fmt.Errorf("read %d and acknowledged %d entries, want %d each", got, acked, n)
	}
	return elapsed, nil
}

// entryIDs appends the IDs of the entries of an XREADGROUP reply for one
// stream to ids. It reads each entry's field values, as a handler would,
// and keeps nothing of them. A nil reply (nothing new) appends none.
func entryIDs(r rueidis.RedisResult, ids []string) ([]string, error) {
	msg, err := r.ToMessage()
	if rueidis.IsRedisNil(err) {
		return ids, nil
	}
	if err != nil {
		return nil, err
	}
	// RESP3 answers {stream: entries}, RESP2 [[stream, entries]].
	var entries rueidis.RedisMessage
	if msg.IsMap() {
		byStream, err := msg.AsMap()
		if err != nil || len(byStream) != 1 {
			return nil, fmt.Errorf("want one stream in the reply, got %d (%v)", len(byStream), err)
		}
		for _, v := range byStream {
			entries = v
		}
	} else {
		streams, err := msg.ToArray()
		if err != nil || len(streams) != 1 {
			return nil, fmt.Errorf("want one stream in the reply, got %d (%v)", len(streams), err)
		}
		pair, err := streams[0].ToArray()
		if err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("want [stream, entries], got %d values (%v)", len(pair), err)
		}
		entries = pair[1]
	}
	list, err := entries.ToArray()
	if err != nil {
		return nil, err
	}
	for _, en := range list {
		idFields, err := en.ToArray()
		if err != nil || len(idFields) != 2 {
			return nil, fmt.Errorf("want [id, fields], got %d values (%v)", len(idFields), err)
		}
		id, err := idFields[0].ToString()
		if err != nil {
			return nil, err
		}
		fvs, err := idFields[1].ToArray()
		if err != nil {
			return nil, err
		}
		for i := 1; i < len(fvs); i += 2 {
			if _, err := fvs[i].ToString(); err != nil { // the no-op handler's read
				return nil, err
			}
		}
		ids = append(ids, id)
	}
	return ids, nil
}
