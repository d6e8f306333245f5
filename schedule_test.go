package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/keyslot"
	"github.com/redstream-go/redstream/redstreamtest"
)

// runSchedConsumer runs a consumer of stream until the test ends.
func runSchedConsumer(t *testing.T, c rueidis.Client, stream, group, name string, h redstream.HandlerFunc) {
	t.Helper()
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.Name(name))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- cons.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = cons.Shutdown(ctxT(t, 10*time.Second))
		if err := <-ran; err != nil {
			t.Errorf("consumer %s: %v", name, err)
		}
	})
	select {
	case <-cons.Ready():
	case err := <-ran:
		t.Fatalf("consumer %s: %v", name, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("consumer %s did not join", name)
	}
}

// streamSeqs returns the "seq" field of every entry of stream, in order.
func streamSeqs(t *testing.T, c rueidis.Client, stream string) []string {
	t.Helper()
	in := redstream.NewInspector(c)
	var seqs []string
	after := "-"
	for {
		page, err := in.Range(ctxT(t, 10*time.Second), stream, after, "+", 1000, false)
		if err != nil {
			if errors.Is(err, redstream.ErrNoStream) {
				return nil
			}
			t.Fatalf("range: %v", err)
		}
		for _, m := range page {
			seqs = append(seqs, m.Value("seq"))
		}
		if len(page) < 1000 {
			return seqs
		}
		after = "(" + page[len(page)-1].ID
	}
}

func TestScheduledKeysShareTheStreamsSlot(t *testing.T) {
	for _, tc := range []struct{ stream, key string }{
		{"orders", "{orders}:scheduled:orders"},
		{"{orders}", "{orders}:scheduled:{orders}"},
		{"orders:3{orders:3:7}", "{orders:3:7}:scheduled:orders:3{orders:3:7}"},
		{"x{y", "{x{y}:scheduled:x{y"},
		{"a{}b", ""}, // braces without a tag: a tag found for its slot
		{"}", ""},
	} {
		got := redstream.ScheduledKey(tc.stream)
		if tc.key != "" && got != tc.key {
			t.Errorf("ScheduledKey(%q) = %q, want %q", tc.stream, got, tc.key)
		}
		if keyslot.Of(got) != keyslot.Of(tc.stream) {
			t.Errorf("ScheduledKey(%q) = %q is in slot %d, the stream in %d", tc.stream, got, keyslot.Of(got), keyslot.Of(tc.stream))
		}
	}
	// A stream and its hash-tagged namesake keep their entries apart.
	if redstream.ScheduledKey("orders") == redstream.ScheduledKey("{orders}") {
		t.Error(`"orders" and "{orders}" share a waiting set`)
	}
}

func TestScheduledDelayIsHonoured(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	p, _ := redstream.NewPublisher(c)
	ctx := ctxT(t, 60*time.Second)

	type arrival struct {
		due time.Time
		id  redstream.ID
	}
	var mu sync.Mutex
	got := map[string]arrival{}
	runSchedConsumer(t, c, stream, "g", "c1", func(_ context.Context, m *redstream.Message) error {
		due, _ := strconv.ParseInt(m.Value("due"), 10, 64)
		id, _ := redstream.ParseID(m.ID)
		mu.Lock()
		got[m.Value("seq")] = arrival{time.UnixMilli(due), id}
		mu.Unlock()
		return nil
	})

	const n = 20
	srvNow := func() time.Time {
		tm, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
		if err != nil {
			t.Fatal(err)
		}
		s, _ := strconv.ParseInt(tm[0], 10, 64)
		us, _ := strconv.ParseInt(tm[1], 10, 64)
		return time.Unix(s, us*1000)
	}
	for i := range n {
		d := time.Duration(300+100*i) * time.Millisecond
		if i%2 == 0 { // PublishIn: relative to the server's clock now
			// The due field is a lower bound: the script reads the clock later.
			due := srvNow().Add(d)
			if _, err := p.PublishIn(ctx, stream, d, redstream.Fields("seq", strconv.Itoa(i), "due", strconv.FormatInt(due.UnixMilli(), 10))); err != nil {
				t.Fatal(err)
			}
		} else {
			at := srvNow().Add(d)
			if _, err := p.PublishAt(ctx, stream, at, redstream.Fields("seq", strconv.Itoa(i), "due", strconv.FormatInt(at.UnixMilli(), 10))); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, 30*time.Second, "every scheduled entry to arrive", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	var late []time.Duration
	for seq, a := range got {
		// The entry's ID is the server's clock when it was appended.
		if a.id.Time().Before(a.due) {
			t.Errorf("entry %s appended at %v, before it was due at %v", seq, a.id.Time(), a.due)
		}
		late = append(late, a.id.Time().Sub(a.due))
	}
	t.Logf("appended after their due time by: %v", late)
	if got := streamSeqs(t, c, stream); len(got) != n {
		t.Fatalf("stream holds %d entries, want %d", len(got), n)
	}
}

func TestScheduledMovesRaceAndEachArrivesOnce(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	p, _ := redstream.NewPublisher(c)
	ctx := ctxT(t, 120*time.Second)

	var mu sync.Mutex
	handled := map[string]int{}
	for i := range 5 {
		runSchedConsumer(t, c, stream, "g", fmt.Sprintf("c%d", i), func(_ context.Context, m *redstream.Message) error {
			mu.Lock()
			handled[m.Value("seq")]++
			mu.Unlock()
			return nil
		})
	}
	// All due at one moment, while five consumers look.
	const n = 10000
	at := time.Now().Add(time.Second)
	entries := make([]redstream.ScheduledEntry, n)
	for i := range entries {
		entries[i] = redstream.ScheduledEntry{Stream: stream, Fields: redstream.Fields("seq", strconv.Itoa(i)), At: at}
	}
	ids, err := p.PublishBatchAt(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n || ids[0] == "" || ids[0] == ids[1] {
		t.Fatalf("scheduled IDs %v...: want %d distinct", ids[:2], n)
	}
	waitFor(t, 60*time.Second, "every entry handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(handled) == n
	})
	seqs := streamSeqs(t, c, stream)
	if len(seqs) != n {
		t.Fatalf("stream holds %d entries, want %d: some were moved twice", len(seqs), n)
	}
	inStream := map[string]bool{}
	for _, s := range seqs {
		if inStream[s] {
			t.Fatalf("seq %s is in the stream twice", s)
		}
		inStream[s] = true
	}
	mu.Lock()
	for seq, k := range handled {
		if k != 1 {
			t.Errorf("seq %s handled %d times", seq, k)
		}
	}
	mu.Unlock()
	info, err := redstream.NewInspector(c).Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scheduled != 0 || info.NextDue != nil {
		t.Fatalf("after the moves: %d scheduled, next due %v; want none", info.Scheduled, info.NextDue)
	}
}

func TestFaultScheduledEntriesSurviveConsumerKills(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream, group := "delayed", "g"
	srv.Do(t, "XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
	p, _ := redstream.NewPublisher(c)
	ctx := ctxT(t, 180*time.Second)

	// 3,000 entries coming due over about six seconds.
	const n = 3000
	start := time.Now().Add(500 * time.Millisecond)
	entries := make([]redstream.ScheduledEntry, n)
	for i := range entries {
		entries[i] = redstream.ScheduledEntry{Stream: stream, Fields: redstream.Fields("seq", strconv.Itoa(i)), At: start.Add(time.Duration(i*2) * time.Millisecond)}
	}
	if _, err := p.PublishBatchAt(ctx, entries); err != nil {
		t.Fatal(err)
	}

	names := []string{"c0", "c1", "c2"}
	procs := make([]*consumerProc, 3)
	for i, name := range names {
		procs[i] = startConsumerProc(t, srv, stream, group, name)
	}
	// SIGKILL a consumer every 300 ms or so while entries come due, and
	// start it again, until the last is due.
	kills := 0
	for i := 0; time.Now().Before(start.Add(time.Duration(2*n)*time.Millisecond + 300*time.Millisecond)); i++ {
		time.Sleep(300 * time.Millisecond)
		k := i % 3
		_ = procs[k].cmd.Process.Signal(syscall.SIGKILL)
		<-procs[k].done
		kills++
		procs[k] = startConsumerProc(t, srv, stream, group, names[k])
	}
	handledKey := stream + ":handled"
	waitFor(t, 90*time.Second, "every scheduled entry moved and handled", func() bool {
		left, _ := srv.Do(t, "ZCARD", redstream.ScheduledKey(stream)).AsInt64()
		h, _ := srv.Do(t, "HLEN", handledKey).AsInt64()
		return left == 0 && h >= n
	})
	seqs := streamSeqs(t, c, stream)
	if len(seqs) != n {
		t.Fatalf("after %d kills the stream holds %d entries, want %d", kills, len(seqs), n)
	}
	seen := map[string]bool{}
	for _, s := range seqs {
		if seen[s] {
			t.Fatalf("seq %s moved twice", s)
		}
		seen[s] = true
	}
	t.Logf("%d entries, %d kills: each moved once and handled", n, kills)
}

func TestScheduledCancelledEntryNeverArrives(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	p, _ := redstream.NewPublisher(c)
	ctx := ctxT(t, 60*time.Second)

	var mu sync.Mutex
	var got []string
	runSchedConsumer(t, c, stream, "g", "c1", func(_ context.Context, m *redstream.Message) error {
		mu.Lock()
		got = append(got, m.Value("seq"))
		mu.Unlock()
		return nil
	})
	at := time.Now().Add(700 * time.Millisecond)
	ids, err := p.PublishBatchAt(ctx, []redstream.ScheduledEntry{
		{Stream: stream, Fields: redstream.Fields("seq", "cancelled"), At: at},
		{Stream: stream, Fields: redstream.Fields("seq", "kept"), At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Cancel(ctx, stream, ids[0]); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if err := p.Cancel(ctx, stream, ids[0]); !errors.Is(err, redstream.ErrNoEntry) {
		t.Fatalf("cancel twice: %v, want ErrNoEntry", err)
	}
	// Both were due at once and would have been moved together, the
	// cancelled one first: once the other arrived, it would have too.
	waitFor(t, 30*time.Second, "the kept entry", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) > 0
	})
	if seqs := streamSeqs(t, c, stream); len(seqs) != 1 || seqs[0] != "kept" {
		t.Fatalf("stream holds %v, want only the kept entry", seqs)
	}
	if err := p.Cancel(ctx, stream, ids[1]); !errors.Is(err, redstream.ErrNoEntry) {
		t.Fatalf("cancel of a moved entry: %v, want ErrNoEntry", err)
	}
}

func TestScheduledTopicKeepsPerKeyOrderAmongEventsDueAtOnce(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 90*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "topic"), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)

	var mu sync.Mutex
	seen := map[string][]int{}
	h := redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		n, _ := strconv.Atoi(m.Value("seq"))
		mu.Lock()
		seen[m.Value(redstream.KeyField)] = append(seen[m.Value(redstream.KeyField)], n)
		mu.Unlock()
		return nil
	})
	cons, err := redstream.NewTopicConsumer(c, top, "g", h, redstream.Lease(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- cons.Run(context.Background()) }()
	t.Cleanup(func() {
		_ = cons.Shutdown(ctxT(t, 10*time.Second))
		<-ran
	})

	// Three keys, 60 events each, interleaved, all due at one moment.
	const keys, per = 3, 60
	at := time.Now().Add(time.Second)
	var events []redstream.KeyedEntry
	for i := range per {
		for k := range keys {
			events = append(events, redstream.KeyedEntry{Key: fmt.Sprintf("k%d", k), Fields: redstream.Fields("seq", strconv.Itoa(i))})
		}
	}
	receipts, err := p.PublishTopicAt(ctx, top, at, events...)
	if err != nil {
		t.Fatal(err)
	}
	if receipts[0].ID == "" || receipts[0].Partition != top.Partition("k0") {
		t.Fatalf("receipt %+v", receipts[0])
	}
	waitFor(t, 60*time.Second, "every event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, s := range seen {
			total += len(s)
		}
		return total == keys*per
	})
	mu.Lock()
	defer mu.Unlock()
	for k, s := range seen {
		for i, n := range s {
			if n != i {
				t.Fatalf("key %s: events in order %v, want 0..%d", k, s, per-1)
			}
		}
	}
}

func TestScheduledInspectorCountsListsAndCancels(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ctx := ctxT(t, 30*time.Second)
	publishN(t, c, stream, 1) // the stream exists, nobody consumes it
	p, _ := redstream.NewPublisher(c)
	in := redstream.NewInspector(c)

	base := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	var ids []string
	for i, d := range []time.Duration{3 * time.Minute, time.Minute, 2 * time.Minute} {
		id, err := p.PublishAt(ctx, stream, base.Add(d), redstream.Fields("seq", strconv.Itoa(i), "raw", "\xff\x00:1:"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	info, err := in.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scheduled != 3 || info.NextDue == nil || !info.NextDue.Equal(base.Add(time.Minute)) {
		t.Fatalf("Scheduled %d, NextDue %v; want 3 and %v", info.Scheduled, info.NextDue, base.Add(time.Minute))
	}
	list, err := in.Scheduled(ctx, stream, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != ids[1] || list[1].ID != ids[2] || list[2].ID != ids[0] {
		t.Fatalf("Scheduled lists %+v, want the three by due time", list)
	}
	if !list[0].Due.Equal(base.Add(time.Minute)) || list[0].Value("seq") != "1" || list[0].Value("raw") != "\xff\x00:1:" {
		t.Fatalf("first listed %+v", list[0])
	}
	if err := in.CancelScheduled(ctx, stream, ids[1]); err != nil {
		t.Fatal(err)
	}
	info, err = in.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if info.Scheduled != 2 || info.NextDue == nil || !info.NextDue.Equal(base.Add(2*time.Minute)) {
		t.Fatalf("after cancelling: Scheduled %d, NextDue %v", info.Scheduled, info.NextDue)
	}
	if list, _ := in.Scheduled(ctx, stream, 1); len(list) != 1 || list[0].ID != ids[2] {
		t.Fatalf("Scheduled with count 1: %+v", list)
	}
}

func TestScheduledPublishRefusesBadInput(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	p, _ := redstream.NewPublisher(c)
	stream := key(t, "s")
	f := redstream.Fields("a", "1")
	for name, err := range map[string]error{
		"negative delay": func() error { _, err := p.PublishIn(ctx, stream, -time.Second, f); return err }(),
		"zero time":      func() error { _, err := p.PublishAt(ctx, stream, time.Time{}, f); return err }(),
		"before 1970":    func() error { _, err := p.PublishAt(ctx, stream, time.Unix(-10, 0), f); return err }(),
		"far future":     func() error { _, err := p.PublishIn(ctx, stream, 20*365*24*time.Hour, f); return err }(),
		"empty stream":   func() error { _, err := p.PublishIn(ctx, "", time.Second, f); return err }(),
		"both At and In": func() error {
			_, err := p.PublishBatchAt(ctx, []redstream.ScheduledEntry{{Stream: stream, Fields: f, At: time.Now(), In: time.Second}})
			return err
		}(),
	} {
		if !errors.Is(err, redstream.ErrInvalidOption) {
			t.Errorf("%s: %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := p.PublishIn(ctx, stream, time.Second, nil); !errors.Is(err, redstream.ErrNoFields) {
		t.Errorf("no fields: %v, want ErrNoFields", err)
	}
	notStream := key(t, "string")
	srv.Do(t, "SET", notStream, "x")
	if _, err := p.PublishIn(ctx, notStream, time.Second, f); !errors.Is(err, redstream.ErrNotStream) {
		t.Errorf("key of another type: %v, want ErrNotStream", err)
	}
	if n, _ := srv.Do(t, "ZCARD", redstream.ScheduledKey(notStream)).AsInt64(); n != 0 {
		t.Errorf("an entry for a key of another type waits: %d", n)
	}
	if err := p.Cancel(ctx, stream, "nope"); !errors.Is(err, redstream.ErrNoEntry) {
		t.Errorf("cancel of an unknown ID: %v, want ErrNoEntry", err)
	}
}
