package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// xlen returns the stream's length.
func xlen(t *testing.T, c rueidis.Client, stream string) int64 {
	t.Helper()
	n, err := c.Do(ctxT(t, 5*time.Second), c.B().Xlen().Key(stream).Build()).AsInt64()
	if err != nil {
		t.Fatalf("xlen %s: %v", stream, err)
	}
	return n
}

// A repeated MsgID returns the first entry's ID, says it is a duplicate,
// and writes nothing, through every publish call; MsgIDs are per stream.
func TestPublishEntryDedupesWithinTheWindow(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	stream, other := key(t, "s"), key(t, "other")
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "1"), MsgID: "order-1"})
	if err != nil || first.ID == "" || first.Duplicate {
		t.Fatalf("first publish = %+v, %v; want a new entry", first, err)
	}
	again, err := p.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "1 again"), MsgID: "order-1"})
	if err != nil || again != (redstream.Receipt{ID: first.ID, Duplicate: true}) {
		t.Fatalf("repeat = %+v, %v; want {%s true}", again, err, first.ID)
	}
	ids, err := p.PublishBatch(ctx, []redstream.Entry{{Stream: stream, Fields: redstream.Fields("n", "1 in a batch"), MsgID: "order-1"}})
	if err != nil || len(ids) != 1 || ids[0] != first.ID {
		t.Fatalf("repeat through PublishBatch = %v, %v; want [%s]", ids, err, first.ID)
	}
	if n := xlen(t, c, stream); n != 1 {
		t.Fatalf("stream holds %d entries after repeats, want 1", n)
	}
	if got, _ := c.Do(ctx, c.B().Xrange().Key(stream).Start("-").End("+").Build()).AsXRange(); got[0].FieldValues["n"] != "1" {
		t.Fatalf("entry fields %v, want the first publish's", got[0].FieldValues)
	}
	next, err := p.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "2"), MsgID: "order-2"})
	if err != nil || next.Duplicate || next.ID == first.ID {
		t.Fatalf("another MsgID = %+v, %v; want a new entry", next, err)
	}
	elsewhere, err := p.PublishEntry(ctx, redstream.Entry{Stream: other, Fields: redstream.Fields("n", "1"), MsgID: "order-1"})
	if err != nil || elsewhere.Duplicate {
		t.Fatalf("the same MsgID on another stream = %+v, %v; want a new entry", elsewhere, err)
	}
	plain, err := p.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "3")})
	if err != nil || plain.Duplicate || plain.ID == "" {
		t.Fatalf("without MsgID = %+v, %v; want a new entry", plain, err)
	}
	if n := xlen(t, c, stream); n != 3 {
		t.Fatalf("stream holds %d entries, want 3", n)
	}
}

// Once the window has passed, the same MsgID publishes a new entry.
func TestDedupeWindowEnds(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	stream := key(t, "s")
	p, err := redstream.NewPublisher(c, redstream.DedupeWindow(300*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e := redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "1"), MsgID: "m"}
	first, err := p.PublishEntry(ctx, e)
	if err != nil || first.Duplicate {
		t.Fatalf("first = %+v, %v", first, err)
	}
	marker := "{" + stream + "}:msgid:" + strconv.Itoa(len(stream)) + ":" + stream + ":m" // the README's layout
	pttl, err := c.Do(ctx, c.B().Pttl().Key(marker).Build()).AsInt64()
	if err != nil || pttl <= 0 || pttl > 300 {
		t.Fatalf("marker %s has PTTL %d (%v), want 1..300 ms", marker, pttl, err)
	}
	waitFor(t, 30*time.Second, "the marker to expire", func() bool {
		n, err := c.Do(ctx, c.B().Exists().Key(marker).Build()).AsInt64()
		return err == nil && n == 0
	})
	second, err := p.PublishEntry(ctx, e)
	if err != nil || second.Duplicate || second.ID == first.ID {
		t.Fatalf("after the window = %+v, %v; want a new entry", second, err)
	}
	if n := xlen(t, c, stream); n != 2 {
		t.Fatalf("stream holds %d entries, want 2", n)
	}
	// The default window is ten minutes.
	d, _ := redstream.NewPublisher(c)
	if _, err := d.PublishEntry(ctx, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", "1"), MsgID: "long"}); err != nil {
		t.Fatal(err)
	}
	pttl, _ = c.Do(ctx, c.B().Pttl().Key("{"+stream+"}:msgid:"+strconv.Itoa(len(stream))+":"+stream+":long").Build()).AsInt64()
	if pttl <= 9*60*1000 || pttl > 10*60*1000 {
		t.Fatalf("default window's marker PTTL %d ms, want about 10 minutes", pttl)
	}
}

// In a batch each entry is de-duplicated on its own, against earlier
// batches and against earlier entries of the same batch.
func TestPublishEntriesDedupesEachEntry(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	stream := key(t, "s")
	p, _ := redstream.NewPublisher(c)
	batch := func(msgIDs ...string) []redstream.Entry {
		out := make([]redstream.Entry, len(msgIDs))
		for i, m := range msgIDs {
			out[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("m", m), MsgID: m}
		}
		return out
	}
	rs, err := p.PublishEntries(ctx, batch("a", "b", "a", "c", "b"))
	if err != nil {
		t.Fatal(err)
	}
	dups := fmt.Sprint(rs[0].Duplicate, rs[1].Duplicate, rs[2].Duplicate, rs[3].Duplicate, rs[4].Duplicate)
	if dups != "false false true false true" || rs[2].ID != rs[0].ID || rs[4].ID != rs[1].ID || rs[0].ID == rs[1].ID || rs[3].ID == rs[0].ID {
		t.Fatalf("receipts %+v: want a, b, c new and the repeats with their IDs", rs)
	}
	again, err := p.PublishEntries(ctx, append(batch("c", "a", "b"), redstream.Entry{Stream: stream, Fields: redstream.Fields("m", "plain")}))
	if err != nil {
		t.Fatal(err)
	}
	want := []redstream.Receipt{{ID: rs[3].ID, Duplicate: true}, {ID: rs[0].ID, Duplicate: true}, {ID: rs[1].ID, Duplicate: true}}
	for i, w := range want {
		if again[i] != w {
			t.Fatalf("second batch receipt %d = %+v, want %+v", i, again[i], w)
		}
	}
	if again[3].Duplicate || again[3].ID == "" {
		t.Fatalf("entry without MsgID = %+v, want written", again[3])
	}
	if n := xlen(t, c, stream); n != 4 {
		t.Fatalf("stream holds %d entries, want 4", n)
	}
}

// A publisher that retries a whole batch, with the same MsgIDs, after its
// connection was killed in the middle of it, leaves every entry in the
// stream exactly once.
func TestRetriedBatchAcrossClientKillLeavesEachEntryOnce(t *testing.T) {
	srv := sharedRedis(t)
	admin := dial(t, srv)
	ctx := ctxT(t, 3*time.Minute)
	const n = 20000
	pad := strings.Repeat("x", 512)
	name := fmt.Sprintf("idem-publisher-%d", time.Now().UnixNano())
	pc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, ClientName: name})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	p, _ := redstream.NewPublisher(pc)

	var stream string
	var entries []redstream.Entry
	var firstIDs []string
	var firstErr error
	// The kill must land while the batch is on its way: if the batch was
	// done first, try again with a fresh stream.
	for round := 0; round < 5 && firstErr == nil; round++ {
		stream = key(t, "s"+strconv.Itoa(round))
		entries = make([]redstream.Entry, n)
		for i := range entries {
			entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("n", strconv.Itoa(i), "pad", pad), MsgID: "msg-" + strconv.Itoa(i)}
		}
		killed := make(chan int, 1)
		go func() {
			for xlenNoFail(admin, stream) == 0 && ctx.Err() == nil {
				time.Sleep(time.Millisecond)
			}
			killed <- killClients(admin, name)
		}()
		firstIDs, firstErr = p.PublishBatch(ctx, entries)
		if k := <-killed; k == 0 {
			t.Fatalf("found no connection named %s to kill", name)
		}
	}
	if firstErr == nil {
		t.Fatal("the connection was never killed while a batch was being sent")
	}
	var be *redstream.BatchError
	if !errors.As(firstErr, &be) {
		t.Fatalf("first attempt failed with %v, want a *BatchError", firstErr)
	}
	var receipts []redstream.Receipt
	err = firstErr
	for try := 0; try < 10 && err != nil; try++ {
		receipts, err = p.PublishEntries(ctx, entries)
	}
	if err != nil {
		t.Fatalf("retries never succeeded: %v", err)
	}
	got, err := admin.Do(ctx, admin.B().Xrange().Key(stream).Start("-").End("+").Build()).AsXRange()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("stream holds %d entries, want %d", len(got), n)
	}
	idOf := make(map[string]string, n)
	for _, e := range got {
		if _, seen := idOf[e.FieldValues["n"]]; seen {
			t.Fatalf("entry n=%s is in the stream twice", e.FieldValues["n"])
		}
		idOf[e.FieldValues["n"]] = e.ID
	}
	dups := 0
	for i, r := range receipts {
		if want := idOf[strconv.Itoa(i)]; r.ID != want {
			t.Fatalf("receipt %d has ID %q, the stream has it as %q", i, r.ID, want)
		}
		if firstIDs[i] != "" && (!r.Duplicate || r.ID != firstIDs[i]) {
			t.Fatalf("entry %d written by the first attempt as %s; the retry says %+v", i, firstIDs[i], r)
		}
		if r.Duplicate {
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("the retry found no entry already written: the kill came before anything was")
	}
	failed := 0
	for _, e := range be.Errs {
		if e != nil {
			failed++
		}
	}
	t.Logf("the first attempt failed %d of %d entries; the retry found %d written", failed, n, dups)
}

// xlenNoFail is XLEN for use off the test's goroutine (0 on error).
func xlenNoFail(c rueidis.Client, stream string) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, _ := c.Do(ctx, c.B().Xlen().Key(stream).Build()).AsInt64()
	return n
}

// killClients kills the connections named name (CLIENT KILL ID) and
// returns how many it found.
func killClients(c rueidis.Client, name string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, _ := c.Do(ctx, c.B().ClientList().Build()).ToString()
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		fields := strings.Fields(line)
		id := int64(-1)
		named := false
		for _, f := range fields {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id, _ = strconv.ParseInt(v, 10, 64)
			}
			if f == "name="+name {
				named = true
			}
		}
		if named && id >= 0 {
			if c.Do(ctx, c.B().ClientKill().Id(id).Build()).Error() == nil {
				killed++
			}
		}
	}
	return killed
}

// Keyed events with MsgIDs are de-duplicated in their partitions.
func TestPublishTopicDedupes(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var events []redstream.KeyedEntry
	for i := range 40 {
		events = append(events, redstream.KeyedEntry{Key: "k" + strconv.Itoa(i%7), Fields: redstream.Fields("i", strconv.Itoa(i)), MsgID: "e" + strconv.Itoa(i)})
	}
	first, err := p.PublishTopic(ctx, top, events...)
	if err != nil {
		t.Fatal(err)
	}
	again, err := p.PublishTopic(ctx, top, events...)
	if err != nil {
		t.Fatal(err)
	}
	waited, _, err := p.PublishTopicWait(ctx, top, 0, time.Second, events...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range events {
		if first[i].Duplicate {
			t.Fatalf("event %d a duplicate on first publish: %+v", i, first[i])
		}
		want := redstream.TopicReceipt{Partition: first[i].Partition, ID: first[i].ID, Duplicate: true}
		if again[i] != want || waited[i] != want {
			t.Fatalf("event %d repeated = %+v, with WAIT %+v; want %+v", i, again[i], waited[i], want)
		}
	}
	total := int64(0)
	for _, s := range top.Streams() {
		total += xlen(t, c, s)
	}
	if total != int64(len(events)) {
		t.Fatalf("partitions hold %d events, want %d", total, len(events))
	}
}

func TestDedupeBadInput(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	for _, d := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		if _, err := redstream.NewPublisher(c, redstream.DedupeWindow(d)); !errors.Is(err, redstream.ErrInvalidOption) {
			t.Errorf("DedupeWindow(%v) = %v, want ErrInvalidOption", d, err)
		}
	}
	for _, d := range []time.Duration{time.Millisecond, 7 * 24 * time.Hour} {
		if _, err := redstream.NewPublisher(c, redstream.DedupeWindow(d)); err != nil {
			t.Errorf("DedupeWindow(%v) = %v, want it accepted", d, err)
		}
	}
	p, _ := redstream.NewPublisher(c)
	good := key(t, "s")
	for _, tc := range []struct {
		name string
		e    redstream.Entry
		want error
	}{
		{"MsgID too long", redstream.Entry{Stream: good, Fields: redstream.Fields("a", "1"), MsgID: strings.Repeat("m", 1025)}, redstream.ErrInvalidOption},
		{"no fields", redstream.Entry{Stream: good, MsgID: "m"}, redstream.ErrNoFields},
		{"no stream", redstream.Entry{Fields: redstream.Fields("a", "1"), MsgID: "m"}, redstream.ErrInvalidOption},
	} {
		if _, err := p.PublishEntry(ctx, tc.e); !errors.Is(err, tc.want) {
			t.Errorf("%s: PublishEntry = %v, want %v", tc.name, err, tc.want)
		}
		if _, err := p.PublishEntries(ctx, []redstream.Entry{{Stream: good, Fields: redstream.Fields("a", "1"), MsgID: "ok"}, tc.e}); !errors.Is(err, tc.want) {
			t.Errorf("%s: PublishEntries = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := xlen(t, c, good); n != 0 {
		t.Fatalf("bad input wrote %d entries", n)
	}
	// A key of another type: the error says so and no marker is left, so
	// the MsgID publishes once the key is a stream.
	wrong := key(t, "wrong")
	c.Do(ctx, c.B().Set().Key(wrong).Value("x").Build())
	if _, err := p.PublishEntry(ctx, redstream.Entry{Stream: wrong, Fields: redstream.Fields("a", "1"), MsgID: "m"}); !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("publish to a string key = %v, want ErrNotStream", err)
	}
	c.Do(ctx, c.B().Del().Key(wrong).Build())
	if r, err := p.PublishEntry(ctx, redstream.Entry{Stream: wrong, Fields: redstream.Fields("a", "1"), MsgID: "m"}); err != nil || r.Duplicate {
		t.Fatalf("publish after the key became free = %+v, %v; want a new entry", r, err)
	}
	// Trimming applies to entries with MsgIDs too.
	trimmed := key(t, "trimmed")
	tp, _ := redstream.NewPublisher(c, redstream.MaxLen(1))
	var es []redstream.Entry
	for i := range 1000 {
		es = append(es, redstream.Entry{Stream: trimmed, Fields: redstream.Fields("i", strconv.Itoa(i)), MsgID: strconv.Itoa(i)})
	}
	if _, err := tp.PublishBatch(ctx, es); err != nil {
		t.Fatal(err)
	}
	if n := xlen(t, c, trimmed); n >= 1000 {
		t.Fatalf("MaxLen(1) left %d of 1000 entries", n)
	}
}
