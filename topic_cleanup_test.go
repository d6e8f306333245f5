package redstream_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// Catches: a topic consumer that never removes the names stopped
// consumers left in its partitions' groups (every restart under a new
// name adds one to each partition), and one that removes a name still
// holding entries (they would become unclaimable).
func TestTopicConsumerRemovesTheNamesStoppedConsumersLeft(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 2*time.Minute)
	top, err := redstream.CreateTopic(ctx, c, key(t, "topic"), 2)
	if err != nil {
		t.Fatal(err)
	}
	const group = "g"
	hold, holding := make(chan struct{}), make(chan string, 1)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if k, _ := m.Get(redstream.KeyField); k == "hold" {
			holding <- m.ID
			<-hold
		}
		return nil
	})
	start := func(name string) (*redstream.TopicConsumer, <-chan error) {
		t.Helper()
		tc, err := redstream.NewTopicConsumer(c, top, group, h, redstream.Name(name),
			redstream.Lease(600*time.Millisecond), redstream.DeleteIdleConsumers(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tc.Run(context.Background()) }()
		t.Cleanup(func() { tc.Close() })
		return tc, done
	}
	inEvery := func(name string) bool {
		for _, s := range top.Streams() {
			if err := srv.Do(t, "XINFO", "CONSUMERS", s, group).Error(); err != nil {
				return false // not created yet
			}
			if _, ok := consumersOf(t, srv, s, group)[name]; !ok {
				return false
			}
		}
		return true
	}

	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	// A key for each partition: Redis adds a name to a group when it is
	// handed an entry.
	keys := map[int]string{}
	for i := 0; len(keys) < top.Partitions(); i++ {
		k := fmt.Sprint("k", i)
		if _, ok := keys[top.Partition(k)]; !ok {
			keys[top.Partition(k)] = k
		}
	}

	// Restarts under fresh names: each is handed entries of every
	// partition, which leaves its name in every partition's group.
	for i := range 3 {
		name := fmt.Sprintf("old-%d", i)
		tc, done := start(name)
		for _, k := range keys {
			if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Key: k, Fields: redstream.Fields("n", name)}); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 30*time.Second, name+" reading every partition", func() bool { return inEvery(name) })
		if err := tc.Shutdown(ctxT(t, 30*time.Second)); err != nil {
			t.Fatalf("Shutdown %s: %v", name, err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Run %s: %v", name, err)
		}
	}

	_, _ = start("cur")
	if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "hold", Fields: redstream.Fields("n", "1")}); err != nil {
		t.Fatal(err)
	}
	var id string
	select {
	case id = <-holding:
	case <-time.After(30 * time.Second):
		t.Fatal("the held event was never handled")
	}
	release := sync.OnceFunc(func() { close(hold) })
	defer release()
	// A name that holds an entry: it must stay while it does.
	held := top.Stream(top.Partition("hold"))
	if err := srv.Do(t, "XCLAIM", held, group, "stuck", "0", id).Error(); err != nil {
		t.Fatal(err)
	}
	// A name that holds nothing, idle since after the stuck one: once it
	// is gone, a cleanup has seen the stuck one idle for longer.
	for _, s := range top.Streams() {
		if err := srv.Do(t, "XGROUP", "CREATECONSUMER", s, group, "late").Error(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "old and idle names gone from every partition", func() bool {
		for _, s := range top.Streams() {
			for name := range consumersOf(t, srv, s, group) {
				if strings.HasPrefix(name, "old-") || name == "late" {
					return false
				}
			}
		}
		return true
	})
	if n, ok := consumersOf(t, srv, held, group)["stuck"]; !ok || n != 1 {
		t.Fatalf("the consumer holding an entry was removed (present %v, pending %d)", ok, n)
	}

	// Once it holds nothing, it goes too.
	release()
	waitFor(t, 30*time.Second, "the stuck name gone once its entry is acknowledged", func() bool {
		_, ok := consumersOf(t, srv, held, group)["stuck"]
		return !ok
	})
}
