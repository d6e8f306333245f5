package redstream_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestRoundTripHandlesEverythingAndLeavesNothingPending(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream, group := key(t, "s"), "g"
	const n = 5000
	ids := publishN(t, c, stream, n)

	var mu sync.Mutex
	seen := make(map[string]int)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		seen[m.ID]++
		mu.Unlock()
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 30*time.Second, "all entries handled", func() bool { return cons.Stats().Handled == n })
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Fatalf("entry %s handled %d times, want 1", id, seen[id])
		}
	}
	if got := pendingCount(t, c, stream, group); got != 0 {
		t.Fatalf("pending after shutdown = %d, want 0", got)
	}
	if st := cons.Stats(); st.Acked != n {
		t.Fatalf("acked = %d, want %d", st.Acked, n)
	}
}

func TestConcurrencyReachesButNeverExceedsTheSetting(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	const limit, n = 8, 200
	publishN(t, c, stream, n)
	var running, peak, total atomic.Int64
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		now := running.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		running.Add(-1)
		total.Add(1)
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Concurrency(limit))
	if err != nil {
		t.Fatal(err)
	}
	go cons.Run(context.Background())
	defer cons.Close()
	waitFor(t, 30*time.Second, "all handled", func() bool { return total.Load() == n })
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrent handlers = %d, want exactly %d", p, limit)
	}
}
