package redstream

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// If the consumer's own view of its leases lapses (heartbeats late) but the
// next heartbeat keeps the same generations, its partitions must be
// handled again, not left owned and idle.
func TestTopicPartitionsResumeAfterALocalLapse(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	top, err := CreateTopic(ctx, c, "lapse", 2)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	tc, _ := NewTopicConsumer(c, top, "g", HandlerFunc(func(context.Context, *Message) error {
		n.Add(1)
		return nil
	}), Lease(3*time.Second), Block(50*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	defer func() { tc.Close(); <-done }()
	for len(tc.Owned()) != 2 {
		time.Sleep(10 * time.Millisecond)
	}
	tc.mu.Lock()
	tc.valid = time.Now().Add(-time.Millisecond) // as if a heartbeat came late
	tc.mu.Unlock()
	time.Sleep(100 * time.Millisecond) // the runs notice and pause or stop
	if err := tc.coordinate(); err != nil {
		t.Fatal(err)
	}
	p, _ := NewPublisher(c)
	var evs []KeyedEntry
	for i := range 10 {
		evs = append(evs, KeyedEntry{Key: strconv.Itoa(i), Fields: Fields("i", "x")})
	}
	if _, err := p.PublishTopic(ctx, top, evs...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for n.Load() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("handled %d of 10 after the lapse: partitions stayed idle", n.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
