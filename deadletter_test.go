package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// deadLetters runs a consumer whose handler fails permanently on every
// entry until n entries are dead letters, then stops it.
func deadLetters(t *testing.T, stream string, n int) *redstream.DeadLetterQueue {
	t.Helper()
	c := dial(t, sharedRedis(t))
	publishN(t, c, stream, n)
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		return redstream.Permanent(fmt.Errorf("bad seq %s", m.Value("seq")))
	}), redstream.StartID("0"), redstream.Name("failing"))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "dead letters", func() bool { return cons.Stats().DeadLettered == int64(n) })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	dlq, err := redstream.NewDeadLetterQueue(c, stream, "")
	if err != nil {
		t.Fatal(err)
	}
	return dlq
}

func TestDeadLetterQueueListGetPurge(t *testing.T) {
	stream := key(t, "s")
	dlq := deadLetters(t, stream, 5)
	ctx := ctxT(t, 10*time.Second)
	if dlq.Key() != stream+":dead" {
		t.Fatalf("Key = %q", dlq.Key())
	}
	all, err := dlq.List(ctx, "-", "+", 100)
	if err != nil || len(all) != 5 {
		t.Fatalf("List = %d, %v", len(all), err)
	}
	d, err := dlq.Get(ctx, all[2].ID)
	if err != nil {
		t.Fatal(err)
	}
	if d.Consumer != "failing" || d.Deliveries != 1 || len(d.Fields) != 1 || d.Fields[0].Name != "seq" || d.Error != "bad seq "+d.Fields[0].Value {
		t.Fatalf("Get = %+v", d)
	}
	if _, err := dlq.Get(ctx, "1-1"); !errors.Is(err, redstream.ErrNoEntry) {
		t.Fatalf("Get of a missing ID: %v, want ErrNoEntry", err)
	}
	if _, err := dlq.Get(ctx, "nonsense"); !errors.Is(err, redstream.ErrInvalidID) {
		t.Fatalf("Get of a malformed ID: %v, want ErrInvalidID", err)
	}
	if n, err := dlq.Purge(ctx, all[0].ID, all[1].ID, "1-1"); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2", n, err)
	}
	if n, err := dlq.Replay(ctx, all[2].ID, "1-1"); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v; want 1", n, err)
	}
	if n, err := dlq.PurgeAll(ctx); err != nil || n != 2 {
		t.Fatalf("PurgeAll = %d, %v; want the 2 left", n, err)
	}
	if n, _ := dlq.Len(ctx); n != 0 {
		t.Fatalf("Len after PurgeAll = %d", n)
	}
	// The replayed entry is back in its stream with its original fields only.
	srv := sharedRedis(t)
	last, _ := srv.Do(t, "XREVRANGE", stream, "+", "-", "COUNT", "1").AsXRangeSlices()
	if len(last) != 1 || len(last[0].FieldValues) != 1 || last[0].FieldValues[0].Value != d.Fields[0].Value {
		t.Fatalf("replayed entry = %+v", last)
	}
}

func TestDeadLetteringIntoAKeyOfAnotherTypeLosesNothing(t *testing.T) {
	// A server of its own: the test counts the errors it replies with.
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "SET", stream+":dead", "occupied")
	publishN(t, c, stream, 3)
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("seq") == "after" {
			return nil
		}
		return redstream.Permanent(errors.New("no"))
	}), redstream.StartID("0"), redstream.RetryBackoff(time.Hour, time.Hour))
	runConsumer(t, cons)
	// Each entry's move to the dead-letter key was tried and refused, and
	// its handling is over.
	waitFor(t, 10*time.Second, "3 failures, each refused as a dead letter", func() bool {
		refused := statCount(t, infoField(t, c, "errorstats", "errorstat_WRONGTYPE"), "count")
		st := cons.Stats()
		return st.Failed == 3 && st.InFlight == 0 && refused >= 3
	})
	// An entry handled after them is acknowledged after anything done
	// about them: once it is, their fate is settled.
	if _, err := srv.Do(t, "XADD", stream, "*", "seq", "after").ToString(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a later entry acknowledged", func() bool { return cons.Stats().Acked >= 1 })
	if p, st := pendingCount(t, c, stream, "g"), cons.Stats(); p != 3 || st.DeadLettered != 0 || st.Acked != 1 {
		t.Fatalf("pending %d, stats %+v: entries that cannot be dead-lettered must stay pending, neither moved nor acknowledged", p, st)
	}
	if v, _ := srv.Do(t, "GET", stream+":dead").ToString(); v != "occupied" {
		t.Fatal("the other key was overwritten")
	}
}
