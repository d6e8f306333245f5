package redstream

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// A batch consumer of several streams: one stream's backlog must not keep
// the other stream's reader from ever getting room. The entry added to
// "other" while "busy" still has a backlog of hundreds of batches must be
// handled before that backlog is gone.
func TestBatchBacklogDoesNotStarveAnotherStream(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	const backlog = 2000
	for range backlog {
		srv.Do(t, "XADD", "busy", "*", "k", "v")
	}
	srv.Do(t, "XGROUP", "CREATE", "other", "g", "0", "MKSTREAM")
	var busyHandled atomic.Int64
	var once sync.Once
	seenAt := make(chan int64, 1)
	h := BatchHandlerFunc(func(ctx context.Context, msgs []*Message) error {
		if msgs[0].Stream == "other" {
			seenAt <- busyHandled.Load()
			return nil
		}
		if busyHandled.Load() >= 500 { // past the start's claim walk
			once.Do(func() {
				if err := c.Do(ctx, c.B().Xadd().Key("other").Id("*").FieldValue().FieldValue("k", "v").Build()).Error(); err != nil {
					t.Error(err)
				}
			})
		}
		time.Sleep(2 * time.Millisecond) // the batch's work: longer than a read
		busyHandled.Add(int64(len(msgs)))
		return nil
	})
	cons, err := NewBatchConsumer(c, "busy", "g", h, AlsoStreams("other"), BatchSize(10), StartID("0"), Block(200*time.Millisecond), ClaimInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	select {
	case n := <-seenAt:
		if n >= backlog {
			t.Fatalf("the entry of stream other was handled only after all %d entries of busy's backlog: one stream's backlog starves the other", n)
		}
		t.Logf("other's entry handled after %d of busy's %d entries", n, backlog)
	case <-time.After(60 * time.Second):
		t.Fatalf("other's entry not handled in 60s (busy handled %d)", busyHandled.Load())
	}
}

// A batch filled only by waiting BatchWait for a trickle is no backlog:
// the consumer must not read the next entry while that batch runs.
func TestBatchWaitTrickleReadsNothingAhead(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	release := make(chan struct{})
	defer close(release)
	started := make(chan struct{}, 1)
	h := BatchHandlerFunc(func(ctx context.Context, msgs []*Message) error {
		select {
		case started <- struct{}{}:
		default:
		}
		<-release
		return nil
	})
	cons, err := NewBatchConsumer(c, "s", "g", h, BatchSize(5), BatchWait(30*time.Second), Name("w"))
	if err != nil {
		t.Fatal(err)
	}
	runInternal(t, cons)
	for i := range 5 { // one at a time: the stream never has a backlog
		srv.Do(t, "XADD", "s", "*", "k", "v")
		waitInternal(t, 10*time.Second, "the entry read", func() bool { return consumerPending(t, srv, "s", "g", "w") == i+1 })
	}
	<-started
	srv.Do(t, "XADD", "s", "*", "k", "v")
	for deadline := time.Now().Add(500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if n := consumerPending(t, srv, "s", "g", "w"); n > 5 {
			t.Fatalf("the consumer read entry %d of a trickle while its batch runs", n)
		}
	}
}
