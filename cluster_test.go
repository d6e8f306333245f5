package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/keyslot"
)

// TestConsumerOnRedisCluster reads three streams that live on different
// masters of a real 3-master cluster with one Consumer, dead-letters an
// entry atomically (the stream and its dead-letter stream share a hash
// tag) and lists the streams across nodes.
func TestConsumerOnRedisCluster(t *testing.T) {
	_, c := startCluster(t, 3, 0)

	// Three hash-tagged streams whose slots fall in different thirds of
	// the slot space, which redis-cli assigns to different masters.
	var streams []string
	for third := 0; len(streams) < 3; third++ {
		for i := 0; ; i++ {
			s := fmt.Sprintf("{orders-%d}", i)
			if int(keyslot.Of(s))*3/keyslot.Slots == len(streams) {
				streams = append(streams, s)
				break
			}
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("poison") == "yes" {
			return redstream.Permanent(errors.New("poison"))
		}
		mu.Lock()
		seen[m.Stream]++
		mu.Unlock()
		return nil
	})
	cons, err := redstream.NewConsumer(c, streams[0], "g", h, redstream.AlsoStreams(streams[1:]...), redstream.StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.Entry
	for _, s := range streams {
		for i := range 50 {
			batch = append(batch, redstream.Entry{Stream: s, Fields: redstream.Fields("n", fmt.Sprint(i))})
		}
	}
	batch = append(batch, redstream.Entry{Stream: streams[2], Fields: redstream.Fields("poison", "yes")})
	if _, err := p.PublishBatch(ctxT(t, 10*time.Second), batch); err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "all handled", func() bool {
		return cons.Stats().Acked == 150 && cons.Stats().DeadLettered == 1
	})
	cons.Shutdown(ctxT(t, 10*time.Second))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		if seen[s] != 50 {
			t.Fatalf("stream %s: %d handled, want 50", s, seen[s])
		}
	}
	dlq, _ := redstream.NewDeadLetterQueue(c, streams[2], "")
	if n, _ := dlq.Len(ctxT(t, 5*time.Second)); n != 1 {
		t.Fatalf("dead letters in %s: %d, want 1", dlq.Key(), n)
	}
	listed, err := redstream.NewInspector(c).Streams(ctxT(t, 5*time.Second), "{orders-*")
	if err != nil || len(listed) != 4 {
		t.Fatalf("Streams across nodes = %v, %v; want the 3 streams and 1 dead-letter stream", listed, err)
	}
}
