package redstream

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// The scheduler moves what is due, sleeps while nothing is, and stops
// whether or not it was started.
func TestSchedulerMovesDueEntriesAndStops(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client, err := Dial(context.Background(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, _ := NewPublisher(client, MaxLen(1000))
	stream := "sched"
	entries := make([]ScheduledEntry, 600) // more than one move script call
	for i := range entries {
		entries[i] = ScheduledEntry{Stream: stream, Fields: Fields("n", "x"), In: 0}
	}
	if _, err := p.PublishBatchAt(ctx, entries); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PublishIn(ctx, stream, time.Hour, Fields("later", "1")); err != nil {
		t.Fatal(err)
	}

	never := newScheduler(ctx, client, func() []string { return []string{stream} }, slog.New(slog.DiscardHandler))
	never.stop() // never started: returns at once

	s := newScheduler(ctx, client, func() []string { return []string{stream} }, slog.New(slog.DiscardHandler))
	s.start()
	deadline := time.Now().Add(20 * time.Second)
	for s.moved.Load() < 600 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.stop()
	if got := s.moved.Load(); got != 600 {
		t.Fatalf("moved %d, want the 600 due", got)
	}
	if n, _ := client.Do(ctx, client.B().Xlen().Key(stream).Build()).AsInt64(); n != 600 {
		t.Fatalf("stream holds %d, want 600", n)
	}
	if n, _ := client.Do(ctx, client.B().Zcard().Key(ScheduledKey(stream)).Build()).AsInt64(); n != 1 {
		t.Fatalf("%d wait, want the one due in an hour", n)
	}
	// Idle: nothing due, so a round moves nothing and sleeps at most every.
	idle := newScheduler(ctx, client, func() []string { return []string{stream} }, slog.New(slog.DiscardHandler))
	wait, err := idle.round()
	if err != nil || wait <= 0 || wait > idle.every {
		t.Fatalf("round with nothing due: wait %v, err %v", wait, err)
	}
	if idle.moved.Load() != 0 {
		t.Fatal("a round moved an entry not yet due")
	}
}
