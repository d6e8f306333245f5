package redstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

func TestTrimAckedKeepsWhatAnyGroupStillNeeds(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	// g1 was delivered up to ids[5] and still has ids[3] pending;
	// g2 was delivered up to ids[7] and acked everything.
	srv.Do(t, "XGROUP", "CREATE", stream, "g1", "0")
	srv.Do(t, "XREADGROUP", "GROUP", "g1", "a", "COUNT", "6", "STREAMS", stream, ">")
	srv.Do(t, "XACK", stream, "g1", ids[0], ids[1], ids[2], ids[4], ids[5])
	srv.Do(t, "XGROUP", "CREATE", stream, "g2", ids[7])
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)
	plan, err := in.PlanTrim(ctx, stream, redstream.TrimOptions{Acked: true})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Bound != ids[3] || plan.Remove != 3 || plan.Length != 10 {
		t.Fatalf("plan %+v, want bound %s (g1's pending entry) removing 3", plan, ids[3])
	}
	if n, _ := srv.Do(t, "XLEN", stream).AsInt64(); n != 10 {
		t.Fatal("planning removed entries")
	}
	n, err := in.Trim(ctx, plan, true)
	if err != nil || n != 3 {
		t.Fatalf("Trim = %d, %v; want 3", n, err)
	}
	first, _ := srv.Do(t, "XRANGE", stream, "-", "+", "COUNT", "1").AsXRangeSlices()
	if first[0].ID != ids[3] {
		t.Fatalf("first entry after trim %s, want %s", first[0].ID, ids[3])
	}
}

func TestTrimAckedRechecksAtTrimTime(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	srv.Do(t, "XGROUP", "CREATE", stream, "done", ids[9])
	in := redstream.NewInspector(c)
	plan, err := in.PlanTrim(ctxT(t, 5*time.Second), stream, redstream.TrimOptions{Acked: true})
	if err != nil || plan.Remove != 10 {
		t.Fatalf("plan %+v, %v", plan, err)
	}
	// A new group that starts from the beginning appears after the plan.
	srv.Do(t, "XGROUP", "CREATE", stream, "late", "0")
	n, err := in.Trim(ctxT(t, 5*time.Second), plan, true)
	if err != nil || n != 0 {
		t.Fatalf("Trim = %d, %v; want 0: the late group has read nothing", n, err)
	}
}

func TestTrimAckedWithoutGroupsRemovesNothing(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 5)
	plan, err := redstream.NewInspector(c).PlanTrim(ctxT(t, 5*time.Second), stream, redstream.TrimOptions{Acked: true})
	if err != nil || plan.Bound != "" || plan.Remove != 0 || plan.Why == "" {
		t.Fatalf("plan %+v, %v; want nothing to remove, with the reason", plan, err)
	}
}

func TestTrimByLengthIDAndAge(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)

	s1 := key(t, "len")
	ids := publishN(t, c, s1, 10)
	plan, err := in.PlanTrim(ctx, s1, redstream.TrimOptions{MaxLen: 4})
	if err != nil || plan.Remove != 6 || plan.Bound != ids[6] {
		t.Fatalf("MaxLen plan %+v, %v", plan, err)
	}
	if n, err := in.Trim(ctx, plan, false); err != nil || n != 6 {
		t.Fatalf("Trim = %d, %v", n, err)
	}

	s2 := key(t, "id")
	ids = publishN(t, c, s2, 10)
	plan, _ = in.PlanTrim(ctx, s2, redstream.TrimOptions{MinID: ids[2]})
	if plan.Remove != 2 {
		t.Fatalf("MinID plan %+v", plan)
	}

	s3 := key(t, "age")
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	for i := range 3 {
		srv.Do(t, "XADD", s3, redstream.ID{Ms: uint64(old), Seq: uint64(i + 1)}.String(), "old", "1")
	}
	publishN(t, c, s3, 2)
	plan, _ = in.PlanTrim(ctx, s3, redstream.TrimOptions{OlderThan: time.Hour})
	if plan.Remove != 3 {
		t.Fatalf("OlderThan plan %+v", plan)
	}
	if _, err := in.PlanTrim(ctx, s3, redstream.TrimOptions{MaxLen: 1, Acked: true}); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Fatalf("two strategies: %v", err)
	}
}

func TestInspectorPendingPagesStreamsAndExtras(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 5)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")
	srv.Do(t, "XREADGROUP", "GROUP", "g", "a", "COUNT", "5", "STREAMS", stream, ">")
	srv.Do(t, "XADD", stream+":dead", "*", "x", "1")
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)

	var got []redstream.PendingEntry
	start := "-"
	for pages := 0; start != ""; pages++ {
		page, next, err := in.Pending(ctx, stream, "g", start, 2, "")
		if err != nil || pages > 5 {
			t.Fatalf("Pending: %v after %d pages", err, pages)
		}
		got = append(got, page...)
		start = next
	}
	if len(got) != 5 || got[0].ID != ids[0] || got[0].Consumer != "a" || got[0].Deliveries != 1 {
		t.Fatalf("pending list %+v", got)
	}

	info, err := in.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	g := info.Groups[0]
	if g.OldestPendingID != ids[0] || g.OldestPendingAge == nil || *g.OldestPendingAge < 0 {
		t.Fatalf("oldest pending %q age %v", g.OldestPendingID, g.OldestPendingAge)
	}
	if info.DeadLetters != 1 || info.DeadLetterStream != stream+":dead" || info.MemoryBytes == nil || *info.MemoryBytes <= 0 {
		t.Fatalf("dead letters %d in %s, memory %v", info.DeadLetters, info.DeadLetterStream, info.MemoryBytes)
	}
	server, _ := redstream.ServerVersion(ctx, c)
	if inactive := g.Consumers[0].Inactive; (inactive != nil) != server.AtLeast(7, 2) {
		t.Fatalf("consumer inactive %v on %s", inactive, server)
	}

	srv.Do(t, "SET", key(t, "plain"), "x")
	streams, err := in.Streams(ctx, key(t, "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(streams) != 2 || streams[0] != stream || streams[1] != stream+":dead" {
		t.Fatalf("Streams = %v", streams)
	}
}

func TestInspectorLagStaysRightAfterTrimAndRestart(t *testing.T) {
	srv := redstreamtest.StartRedis(t, redstreamtest.AppendOnly("always"))
	c := dial(t, srv)
	stream := "lag"
	ids := publishN(t, c, stream, 20)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", ids[4]) // entries-read unknown to Redis
	srv.Do(t, "XTRIM", stream, "MAXLEN", "18")         // trims ids[0], ids[1]
	check := func(when string) {
		t.Helper()
		info, err := redstream.NewInspector(c).Stream(ctxT(t, 5*time.Second), stream)
		if err != nil {
			t.Fatal(err)
		}
		lag := info.Groups[0].Lag
		if lag == nil || *lag != 15 { // ids[5..19]
			t.Fatalf("%s: lag = %v, want 15 (counted if the server does not know)", when, lag)
		}
	}
	check("after trim")
	srv.Kill()
	srv.Restart()
	waitFor(t, 10*time.Second, "reconnected", func() bool {
		_, err := redstream.NewInspector(c).Stream(ctxT(t, time.Second), stream)
		return err == nil
	})
	check("after restart")
}
