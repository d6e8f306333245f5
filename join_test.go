package redstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// syncLog is a test logger's output, safe for concurrent use.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *syncLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// refuseWrites makes srv refuse every write that may grow memory (OOM),
// as a full Redis under maxmemory with noeviction does, and checks that
// it does.
func refuseWrites(t *testing.T, srv *redstreamtest.Server, stream string) {
	t.Helper()
	srv.Do(t, "CONFIG", "SET", "maxmemory-policy", "noeviction")
	srv.Do(t, "CONFIG", "SET", "maxmemory", "1")
	if err := srv.Do(t, "XGROUP", "CREATE", stream, "probe", "0").Error(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("XGROUP CREATE under maxmemory 1: %v, want an OOM refusal", err)
	}
}

// TestConsumerJoinsAnExistingGroupWhileRedisRefusesWrites: with Redis out
// of memory, XGROUP CREATE answers OOM, not BUSYGROUP; a consumer of a
// group that exists still joins, reads and acknowledges everything.
func TestConsumerJoinsAnExistingGroupWhileRedisRefusesWrites(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := "full"
	ids := publishN(t, c, stream, 200)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")
	refuseWrites(t, srv, stream)

	var rec recorder
	cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	}), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	select {
	case <-cons.Ready():
	case err := <-done:
		t.Fatalf("Run under maxmemory returned %v before joining an existing group", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not joined within 30s")
	}
	waitFor(t, 30*time.Second, "all 200 handled", func() bool { return rec.len() == len(ids) })
	waitFor(t, 30*time.Second, "all acknowledged", func() bool { return pendingCount(t, c, stream, "g") == 0 })
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestTopicConsumerJoinsAnExistingGroupWhileRedisRefusesWrites is the
// same for a topic consumer: it joins every partition's group without a
// write, keeps its leases, and drains the partitions.
func TestTopicConsumerJoinsAnExistingGroupWhileRedisRefusesWrites(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 60*time.Second)
	top, err := redstream.CreateTopic(ctx, c, "full", 3)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	events := make([]redstream.KeyedEntry, 150)
	for i := range events {
		events[i] = redstream.KeyedEntry{Key: fmt.Sprint("k", i%10), Fields: redstream.Fields("seq", fmt.Sprint(i))}
	}
	if _, err := p.PublishTopic(ctx, top, events...); err != nil {
		t.Fatal(err)
	}
	for _, s := range top.Streams() {
		srv.Do(t, "XGROUP", "CREATE", s, "g", "0")
	}
	refuseWrites(t, srv, top.Stream(0))

	var rec recorder
	tc, err := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		rec.add(m.Stream + " " + m.ID) // IDs of different partitions may be equal
		return nil
	}), redstream.Name("solo"), redstream.Lease(2*time.Second), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close() })
	waitFor(t, 30*time.Second, "all 150 handled", func() bool {
		select {
		case err := <-done:
			t.Fatalf("Run under maxmemory returned %v", err)
		default:
		}
		return rec.len() == len(events)
	})
	for _, s := range top.Streams() {
		if n := pendingCount(t, c, s, "g"); n != 0 {
			t.Errorf("%s: %d pending after all were handled", s, n)
		}
	}
	if err := tc.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
}

// TestConsumerIsListedOnceJoined: a consumer that joined shows in the
// Inspector before any entry exists (Redis itself creates a consumer only
// when a read hands it entries).
func TestConsumerIsListedOnceJoined(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.Name("early"), redstream.AlsoStreams(stream+":b"), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cons)
	select {
	case <-cons.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("not joined within 30s")
	}
	in := redstream.NewInspector(c)
	for _, s := range []string{stream, stream + ":b"} {
		info, err := in.Stream(ctxT(t, 5*time.Second), s)
		if err != nil {
			t.Fatal(err)
		}
		if info.Length != 0 || len(info.Groups) != 1 {
			t.Fatalf("%s: length %d, groups %+v; want an empty stream with group g", s, info.Length, info.Groups)
		}
		if names := consumerNames(info.Groups[0]); !slices.Contains(names, "early") {
			t.Errorf("%s: group g lists consumers %v once the consumer joined, want early among them", s, names)
		}
	}
}

// TestTopicConsumerIsListedOnEachPartitionItTakes: a topic consumer
// registers its name on each partition when it takes it, before any
// event exists.
func TestTopicConsumerIsListedOnEachPartitionItTakes(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 3)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.Name("early"), redstream.Lease(2*time.Second), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close(); <-done })
	waitFor(t, 20*time.Second, "all 3 partitions owned", func() bool { return len(tc.Owned()) == 3 })
	in := redstream.NewInspector(c)
	for _, s := range top.Streams() {
		waitFor(t, 20*time.Second, "the consumer listed on "+s, func() bool {
			info, err := in.Stream(ctxT(t, 5*time.Second), s)
			if err != nil {
				t.Fatal(err)
			}
			return len(info.Groups) == 1 && slices.Contains(consumerNames(info.Groups[0]), "early")
		})
	}
}

func consumerNames(g redstream.GroupInfo) []string {
	var names []string
	for _, cn := range g.Consumers {
		names = append(names, cn.Name)
	}
	return names
}

// TestConsumerDefaultStartDeliversWhatWasPublishedBefore: by default a
// group is created at the beginning of the stream, so entries published
// before the first consumer started are delivered, and nothing is said
// about skipped entries.
func TestConsumerDefaultStartDeliversWhatWasPublishedBefore(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	var rec recorder
	var logs syncLog
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	}), redstream.WithLogger(logs.logger()))
	runConsumer(t, cons)
	waitFor(t, 20*time.Second, "the 10 entries published before the consumer handled", func() bool { return rec.len() == len(ids) })
	if strings.Contains(logs.String(), "created at the end") {
		t.Errorf("a group created at the beginning logged a skip:\n%s", logs.String())
	}
}

// TestGroupCreatedAtTheEndSaysWhatItSkips: a group created at "$" on a
// stream holding entries says once how many it does not deliver, and
// delivers the entries added later.
func TestGroupCreatedAtTheEndSaysWhatItSkips(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 5)
	var rec recorder
	var logs syncLog
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	}), redstream.StartID("$"), redstream.WithLogger(logs.logger()), redstream.Block(100*time.Millisecond))
	runConsumer(t, cons)
	<-cons.Ready()
	later := publishN(t, c, stream, 3)
	waitFor(t, 20*time.Second, "the 3 later entries handled", func() bool { return rec.len() == 3 })
	for _, id := range later {
		if rec.count(id) != 1 {
			t.Errorf("later entry %s handled %d times", id, rec.count(id))
		}
	}
	want := "group g created at the end of " + stream + ": its 5 existing entries are not delivered"
	if n := strings.Count(logs.String(), want); n != 1 {
		t.Errorf("log says %q %d times, want once:\n%s", want, n, logs.String())
	}

	// A second consumer joining the existing group says nothing.
	var logs2 syncLog
	second, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("$"), redstream.WithLogger(logs2.logger()), redstream.Block(100*time.Millisecond))
	runConsumer(t, second)
	<-second.Ready()
	if strings.Contains(logs2.String(), "created at the end") {
		t.Errorf("joining an existing group logged a skip:\n%s", logs2.String())
	}
}

// TestTopicGroupCreatedAtTheEndSaysWhatItSkips is the same for a topic:
// one note per partition that held events.
func TestTopicGroupCreatedAtTheEndSaysWhatItSkips(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Fields: redstream.Fields("a", "1")}, redstream.KeyedEntry{Fields: redstream.Fields("a", "2")},
		redstream.KeyedEntry{Fields: redstream.Fields("a", "3")}); err != nil {
		t.Fatal(err)
	}
	var logs syncLog
	tc, _ := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.StartID("$"), redstream.WithLogger(logs.logger()), redstream.Lease(2*time.Second))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close(); <-done })
	waitFor(t, 20*time.Second, "both partitions owned", func() bool { return len(tc.Owned()) == 2 })
	for i, n := range []int{2, 1} { // round robin from partition 0
		want := fmt.Sprintf("group g created at the end of %s: its %d existing entr", top.Stream(i), n)
		if strings.Count(logs.String(), want) != 1 {
			t.Errorf("log does not say once %q:\n%s", want, logs.String())
		}
	}
}

// A group is not created at a position in the future beyond the stream's
// last entry, by a consumer (StartID) or by the Inspector: it would skip
// every entry added until the clock got there, with lag 0. A position in
// the past is fine even on an empty stream.
func TestNoGroupIsCreatedAheadOfTheStream(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	publishN(t, c, stream, 1)
	ahead := redstream.ID{Ms: uint64(time.Now().Add(24 * time.Hour).UnixMilli())}.String()
	past := redstream.ID{Ms: uint64(time.Now().Add(-time.Hour).UnixMilli())}.String()

	in := redstream.NewInspector(c)
	if err := in.CreateGroup(ctx, stream, "ahead", ahead, false); !errors.Is(err, redstream.ErrBeyondEnd) {
		t.Fatalf("CreateGroup at %s = %v, want ErrBeyondEnd", ahead, err)
	}
	cons, err := redstream.NewConsumer(c, stream, "ahead2", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }), redstream.StartID(ahead))
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Run(ctx); !errors.Is(err, redstream.ErrBeyondEnd) {
		t.Fatalf("Run with StartID(%s) = %v, want ErrBeyondEnd", ahead, err)
	}
	info, err := in.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Groups) != 0 {
		t.Fatalf("groups %+v were created ahead of the stream", info.Groups)
	}
	empty := key(t, "empty")
	if err := in.CreateGroup(ctx, empty, "past", past, true); err != nil {
		t.Fatalf("CreateGroup at %s (past) on a new stream: %v", past, err)
	}
}
