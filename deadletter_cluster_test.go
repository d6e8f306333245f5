package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// TestDeadLetterOnRedisCluster dead-letters and replays entries on a
// 3-master cluster, once where the stream and its dead-letter stream
// live in different slots (moved in two steps: write, then acknowledge or
// delete) and once where a hash tag keeps them in one slot (moved by one
// script each).
func TestDeadLetterOnRedisCluster(t *testing.T) {
	_, c := startCluster(t, 3, 0)
	t.Run("cross-slot", func(t *testing.T) { deadLetterAcrossSlots(t, c) })
	t.Run("hash-tag", func(t *testing.T) { deadLetterInOneSlot(t, c) })
}

// deadLetterAcrossSlots runs a stream key without a hash tag, whose
// dead-letter stream is on another master: poison entries must reach the
// dead-letter stream with the dead.* fields and be acknowledged, and
// Replay and ReplayRange must move them back as new entries.
func deadLetterAcrossSlots(t *testing.T, c rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	const stream = "orders"
	dead := redstream.DeadLetterKey(stream)
	slot, deadSlot := clusterKeyslot(t, c, stream), clusterKeyslot(t, c, dead)
	if slot == deadSlot {
		t.Fatalf("setup: %s and %s share slot %d; the test needs different slots", stream, dead, slot)
	}
	if a, b := slotMaster(t, c, slot), slotMaster(t, c, deadSlot); a == b {
		t.Fatalf("setup: %s (slot %d) and %s (slot %d) are both on %s; the test needs different masters", stream, slot, dead, deadSlot, a)
	}

	// 20 entries, every fourth poison.
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.Entry
	for i := range 20 {
		poison := "no"
		if i%4 == 0 {
			poison = "yes"
		}
		batch = append(batch, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", strconv.Itoa(i), "poison", poison)})
	}
	ids, err := p.PublishBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	poison := map[string][]redstream.Field{} // original ID -> fields
	good := map[string]bool{}
	for i, e := range batch {
		if e.Fields[1].Value == "yes" {
			poison[ids[i]] = e.Fields
		} else {
			good[ids[i]] = true
		}
	}

	var mu sync.Mutex
	handled := map[string]bool{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("poison") == "yes" {
			return redstream.Permanent(fmt.Errorf("poison %s", m.Value("n")))
		}
		mu.Lock()
		handled[m.ID] = true
		mu.Unlock()
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Name("c1"), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "15 handled and 5 dead-lettered", func() bool {
		s := cons.Stats()
		return s.Acked == 15 && s.DeadLettered == 5
	})
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d entries pending after dead-lettering across slots, want 0 (dead letters must be acknowledged)", n)
	}
	mu.Lock()
	if len(handled) != len(good) {
		t.Fatalf("%d entries handled, want the %d good ones", len(handled), len(good))
	}
	for id := range good {
		if !handled[id] {
			t.Fatalf("good entry %s not handled", id)
		}
	}
	mu.Unlock()

	dlq, err := redstream.NewDeadLetterQueue(c, stream, "")
	if err != nil {
		t.Fatal(err)
	}
	letters, err := dlq.List(ctx, "-", "+", 100)
	if err != nil || len(letters) != 5 {
		t.Fatalf("List = %d dead letters, %v; want 5", len(letters), err)
	}
	left := maps.Clone(poison)
	for _, d := range letters {
		want, ok := left[d.OriginalID]
		if !ok {
			t.Fatalf("dead letter %+v is not one of the poison entries (or came twice)", d)
		}
		delete(left, d.OriginalID)
		if d.Stream != stream || d.Group != "g" || d.Consumer != "c1" || d.Deliveries != 1 ||
			d.Error != "poison "+want[0].Value || time.Since(d.Time) > time.Minute || !slices.Equal(d.Fields, want) {
			t.Fatalf("dead letter %+v, want the dead.* fields and the original fields %v", d, want)
		}
	}

	// Replay two by ID, the rest by range: new entries in the stream with
	// the original fields, in that order, gone from the dead-letter stream.
	if n, err := dlq.Replay(ctx, letters[0].ID, letters[1].ID); err != nil || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2", n, err)
	}
	if n, _ := dlq.Len(ctx); n != 3 {
		t.Fatalf("%d dead letters after replaying 2 of 5, want 3", n)
	}
	progress := 0
	if n, err := dlq.ReplayRange(ctx, "-", "+", func(done int) { progress = done }); err != nil || n != 3 || progress != 3 {
		t.Fatalf("ReplayRange = %d, %v (progress %d); want 3", n, err, progress)
	}
	if n, _ := dlq.Len(ctx); n != 0 {
		t.Fatalf("%d dead letters after replaying all, want 0", n)
	}
	replayed, err := c.Do(ctx, c.B().Xrange().Key(stream).Start("("+ids[len(ids)-1]).End("+").Build()).AsXRangeSlices()
	if err != nil || len(replayed) != 5 {
		t.Fatalf("replayed entries %v, %v; want 5 after the originals", replayed, err)
	}
	replayedIDs := map[string]bool{}
	for i, e := range replayed {
		got := make([]redstream.Field, len(e.FieldValues))
		for j, fv := range e.FieldValues {
			got[j] = redstream.Field{Name: fv.Field, Value: fv.Value}
		}
		if !slices.Equal(got, letters[i].Fields) {
			t.Fatalf("replayed entry %s has %v, want the original fields %v only", e.ID, got, letters[i].Fields)
		}
		if _, was := poison[e.ID]; was {
			t.Fatalf("replayed entry kept its original ID %s", e.ID)
		}
		replayedIDs[e.ID] = true
	}

	// Once the handler is fixed, the group handles the replayed entries.
	seen := map[string]bool{}
	fixed := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		seen[m.ID] = true
		mu.Unlock()
		return nil
	})
	cons2, err := redstream.NewConsumer(c, stream, "g", fixed, redstream.Name("c2"), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done2 := runConsumer(t, cons2)
	waitFor(t, 20*time.Second, "the 5 replayed entries handled", func() bool { return cons2.Stats().Acked == 5 })
	if err := cons2.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 {
		t.Fatalf("handled %v after the replay, want the 5 replayed entries", seen)
	}
	for id := range seen {
		if !replayedIDs[id] {
			t.Fatalf("handled %s after the replay, which is not a replayed entry", id)
		}
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d entries pending after handling the replay, want 0", n)
	}
}

// deadLetterInOneSlot runs a hash-tagged stream, which shares its slot
// with its dead-letter stream: the move is one script, which leaves alone
// an entry acknowledged meanwhile (the two-step move cannot know).
func deadLetterInOneSlot(t *testing.T, c rueidis.Client) {
	ctx := ctxT(t, time.Minute)
	const stream = "{orders}"
	dead := redstream.DeadLetterKey(stream)
	if a, b := clusterKeyslot(t, c, stream), clusterKeyslot(t, c, dead); a != b {
		t.Fatalf("setup: %s in slot %d, %s in slot %d; a hash tag must keep them together", stream, a, dead, b)
	}
	p, _ := redstream.NewPublisher(c)
	ids, err := p.PublishBatch(ctx, []redstream.Entry{
		{Stream: stream, Fields: redstream.Fields("kind", "good")},
		{Stream: stream, Fields: redstream.Fields("kind", "poison")},
		{Stream: stream, Fields: redstream.Fields("kind", "acked")},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		switch m.Value("kind") {
		case "poison":
			return redstream.Permanent(errors.New("poison"))
		case "acked":
			if err := c.Do(ctx, c.B().Xack().Key(m.Stream).Group("g").Id(m.ID).Build()).Error(); err != nil {
				return err
			}
			return redstream.Permanent(errors.New("acknowledged meanwhile"))
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Name("c1"), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "1 handled and 2 failed", func() bool {
		s := cons.Stats()
		return s.Acked == 1 && s.Failed == 2
	})
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil { // waits for the dead-lettering
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d entries pending, want 0", n)
	}
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	letters, err := dlq.List(ctx, "-", "+", 10)
	if err != nil || len(letters) != 1 || letters[0].OriginalID != ids[1] || cons.Stats().DeadLettered != 1 {
		t.Fatalf("dead letters %+v, %v (DeadLettered %d); want only the poison entry %s: the entry acknowledged meanwhile must be left alone",
			letters, err, cons.Stats().DeadLettered, ids[1])
	}
	if n, err := dlq.Replay(ctx, letters[0].ID); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	if n, _ := dlq.Len(ctx); n != 0 {
		t.Fatalf("%d dead letters after the replay, want 0", n)
	}
	last, err := c.Do(ctx, c.B().Xrevrange().Key(stream).End("+").Start("-").Count(1).Build()).AsXRangeSlices()
	if err != nil || len(last) != 1 || last[0].ID == ids[1] || len(last[0].FieldValues) != 1 || last[0].FieldValues[0].Value != "poison" {
		t.Fatalf("last entry after the replay %v, %v; want the poison entry under a new ID", last, err)
	}
}

// clusterKeyslot asks the cluster for key's slot.
func clusterKeyslot(t *testing.T, c rueidis.Client, key string) int64 {
	t.Helper()
	slot, err := c.Do(ctxT(t, 5*time.Second), c.B().ClusterKeyslot().Key(key).Build()).AsInt64()
	if err != nil {
		t.Fatalf("cluster keyslot %s: %v", key, err)
	}
	return slot
}

// slotMaster returns the address of the master serving slot, from
// CLUSTER SLOTS.
func slotMaster(t *testing.T, c rueidis.Client, slot int64) string {
	t.Helper()
	ranges, err := c.Do(ctxT(t, 5*time.Second), c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		t.Fatalf("cluster slots: %v", err)
	}
	for _, r := range ranges {
		row, err := r.ToArray()
		if err != nil || len(row) < 3 {
			t.Fatalf("cluster slots: unexpected row %v", r)
		}
		lo, _ := row[0].AsInt64()
		hi, _ := row[1].AsInt64()
		if slot < lo || slot > hi {
			continue
		}
		node, err := row[2].ToArray()
		if err != nil || len(node) < 2 {
			t.Fatalf("cluster slots: unexpected node %v", row[2])
		}
		host, _ := node[0].ToString()
		port, _ := node[1].AsInt64()
		return net.JoinHostPort(host, strconv.FormatInt(port, 10))
	}
	t.Fatalf("cluster slots: no master serves slot %d", slot)
	return ""
}
