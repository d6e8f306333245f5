package redstream

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

// pausedRuns counts the consumer's partition runs that have noticed the
// lease lapse: ended, or waiting in waitHeld (seen in a dump of every
// goroutine's stack; the test runs no other topic consumer).
func (tc *TopicConsumer) pausedRuns() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "redstream.(*partitionRun).sleep(") && strings.Contains(g, "redstream.(*partitionRun).waitHeld(") &&
			strings.Contains(g, "redstream.(*partitionRun).run(") {
			count++
		}
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, r := range tc.runs {
		if r.finished() {
			count++
		}
	}
	return count
}

func (tc *TopicConsumer) validUntil() time.Time {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.valid
}

func (tc *TopicConsumer) generations() map[int]int64 {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	gens := map[int]int64{}
	for p, r := range tc.runs {
		gens[p] = r.gen
	}
	return gens
}

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
	const lease = 3 * time.Second // heartbeats every second
	var n atomic.Int64
	tc, _ := NewTopicConsumer(c, top, "g", HandlerFunc(func(context.Context, *Message) error {
		n.Add(1)
		return nil
	}), Lease(lease), Block(50*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	defer func() { tc.Close(); <-done }()
	waitUntil(t, 10*time.Second, "owns both", func() bool { return len(tc.Owned()) == 2 })
	gens := tc.generations()

	// Lapse the consumer's view just after a heartbeat, so that the next
	// one is about a second away, and wait for both runs to notice (pause
	// or stop). Should a heartbeat still come first, try again.
	for attempt := 1; ; attempt++ {
		waitUntil(t, 10*time.Second, "owns both", func() bool { return len(tc.Owned()) == 2 })
		last := tc.validUntil()
		waitUntil(t, 10*time.Second, "a heartbeat", func() bool { return !tc.validUntil().Equal(last) })
		lapsed := time.Now().Add(-time.Millisecond) // as if that heartbeat came late
		tc.mu.Lock()
		tc.valid = lapsed
		tc.mu.Unlock()
		waitUntil(t, 10*time.Second, "the runs to notice or a heartbeat", func() bool {
			return tc.pausedRuns() == 2 || !tc.validUntil().Equal(lapsed)
		})
		if tc.validUntil().Equal(lapsed) {
			break
		}
		if attempt == 5 {
			t.Fatal("a heartbeat came before the runs noticed the lapse, five times")
		}
	}
	if err := tc.coordinate(); err != nil { // the late heartbeat
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "partitions running again", func() bool { return len(tc.Owned()) == 2 })
	if got := tc.generations(); got[0] != gens[0] || got[1] != gens[1] {
		t.Fatalf("generations %v after the lapse, want %v kept", got, gens)
	}
	p, _ := NewPublisher(c)
	var evs []KeyedEntry
	for i := range 10 {
		evs = append(evs, KeyedEntry{Key: strconv.Itoa(i), Fields: Fields("i", "x")})
	}
	if _, err := p.PublishTopic(ctx, top, evs...); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 15*time.Second, "10 handled after the lapse", func() bool { return n.Load() == 10 })
}
