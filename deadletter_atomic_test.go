package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// checkDeadLettersAtomic checks, from what the server ran, that each entry
// moved from stream to dead (original ID -> its fields' seq) was written
// and acknowledged inside one script: no client sent an XADD to the
// dead-letter stream or an XACK of a dead-lettered entry, so no crash can
// leave one step done without the other.
func checkDeadLettersAtomic(t *testing.T, cmds []monitored, stream, dead string, deadIDs []string) {
	t.Helper()
	isDead := map[string]bool{}
	for _, id := range deadIDs {
		isDead[id] = true
	}
	scriptAdds, scriptCalls := 0, 0
	for _, c := range cmds {
		name := strings.ToUpper(c.args[0])
		switch {
		case name == "XADD" && len(c.args) > 1 && c.args[1] == dead:
			if !c.lua {
				t.Errorf("a client wrote to the dead-letter stream outside a script: %s", c)
			}
			scriptAdds++
		case name == "XACK" && len(c.args) > 3 && c.args[1] == stream && !c.lua:
			for _, id := range c.args[3:] {
				if isDead[id] {
					t.Errorf("a client acknowledged dead-lettered entry %s outside the script that wrote it: %s", id, c)
				}
			}
		case (name == "EVALSHA" || name == "EVAL") && !c.lua && slices.Contains(c.args, dead):
			scriptCalls++
		}
	}
	if scriptAdds != len(deadIDs) {
		t.Errorf("%d dead letters written by a script, want %d", scriptAdds, len(deadIDs))
	}
	if scriptCalls < len(deadIDs) {
		t.Errorf("%d script calls name the dead-letter stream, want at least %d", scriptCalls, len(deadIDs))
	}
}

// deadOriginals returns the dead.id of every entry of the dead-letter stream.
func deadOriginals(t *testing.T, c rueidis.Client, stream, dead string) []string {
	t.Helper()
	q, err := redstream.NewDeadLetterQueue(c, stream, dead)
	if err != nil {
		t.Fatal(err)
	}
	letters, err := q.List(ctxT(t, 5*time.Second), "-", "+", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range letters {
		ids = append(ids, d.OriginalID)
	}
	slices.Sort(ids)
	return ids
}

func TestDeadLetterIsWrittenAndAckedInOneScript(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := "{orders}"
	dead := redstream.DeadLetterKey(stream)
	ids := publishN(t, c, stream, 12)
	mon := startMonitor(t, srv)

	var poison []string
	for i, id := range ids {
		if i%3 == 0 {
			poison = append(poison, id)
		}
	}
	slices.Sort(poison)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		seq, _ := strconv.Atoi(m.Value("seq"))
		switch seq % 3 {
		case 0:
			return redstream.Permanent(errors.New("poison"))
		case 1:
			if m.Deliveries < 2 {
				return errors.New("once more")
			}
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.RetryBackoff(time.Millisecond, 10*time.Millisecond), redstream.AckInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "every entry handled or dead-lettered, nothing pending", func() bool {
		return cons.Stats().DeadLettered == int64(len(poison)) && pendingCount(t, c, stream, "g") == 0
	})
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-done
	if got := deadOriginals(t, c, stream, dead); !slices.Equal(got, poison) {
		t.Fatalf("dead letters of %v, want %v", got, poison)
	}
	checkDeadLettersAtomic(t, mon.commands(t), stream, dead, poison)
}

// A handler's entry that is no longer pending when the handler gives up
// (another consumer took it over and acknowledged it, or an operator did)
// has an outcome already: it must not become a dead letter as well.
func TestEntryNoLongerPendingIsNeverDeadLettered(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 6)
	acked := ids[2]
	var handledAcked sync.WaitGroup
	handledAcked.Add(1)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.ID != acked {
			return redstream.Permanent(errors.New("poison"))
		}
		// Someone else settles this entry while the handler still runs.
		defer handledAcked.Done()
		if err := c.Do(ctx, c.B().Xack().Key(stream).Group("g").Id(m.ID).Build()).Error(); err != nil {
			return err
		}
		return redstream.Permanent(errors.New("gave up after the entry was acknowledged elsewhere"))
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.WithLogger(testLog(t)))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	handledAcked.Wait()
	waitFor(t, 20*time.Second, "the other entries dead-lettered", func() bool {
		return cons.Stats().DeadLettered >= 5
	})
	// Shutdown waits for every handler's outcome, the dead-letter step included.
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-done
	got := deadOriginals(t, c, stream, redstream.DeadLetterKey(stream))
	if slices.Contains(got, acked) {
		t.Fatalf("entry %s was acknowledged elsewhere and still dead-lettered: dead letters of %v", acked, got)
	}
	if len(got) != 5 || cons.Stats().DeadLettered != 5 {
		t.Fatalf("dead letters of %v (stats %d), want the 5 others", got, cons.Stats().DeadLettered)
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d pending", n)
	}
}

func TestTopicDeadLettersKeepTheKeyGoing(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, "orders", 4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.KeyedEntry
	for s := range 5 {
		for _, k := range []string{"poison", "flaky", "fine"} {
			batch = append(batch, redstream.KeyedEntry{Key: k, Fields: redstream.Fields("seq", strconv.Itoa(s))})
		}
	}
	receipts, err := p.PublishTopic(ctx, top, batch...)
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[string]string{} // "key/seq" -> entry ID
	for i, r := range receipts {
		idOf[batch[i].Key+"/"+batch[i].Fields[0].Value] = r.ID
	}
	mon := startMonitor(t, srv)

	var mu sync.Mutex
	order := map[string][]string{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		k, s := m.Value(redstream.KeyField), m.Value("seq")
		switch {
		case k == "poison" && s == "1":
			return redstream.Permanent(errors.New("poison"))
		case k == "flaky" && s == "2":
			return errors.New("always fails")
		}
		mu.Lock()
		order[k] = append(order[k], s)
		mu.Unlock()
		return nil
	})
	tc, err := redstream.NewTopicConsumer(c, top, "g", h, redstream.MaxDeliveries(3), redstream.RetryBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	waitFor(t, 20*time.Second, "every key past its dead letter", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["poison"]) == 4 && len(order["flaky"]) == 4 && len(order["fine"]) == 5
	})
	waitFor(t, 10*time.Second, "nothing pending", func() bool { return pendingAll(t, c, top) == 0 })
	if err := tc.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := fmt.Sprint(order["poison"], order["flaky"], order["fine"])
	mu.Unlock()
	if got != "[0 2 3 4] [0 1 3 4] [0 1 2 3 4]" {
		t.Fatalf("handled %s: each key must go on, in order, past its dead letter", got)
	}
	if n := tc.Stats().DeadLettered; n != 2 {
		t.Fatalf("stats: %d dead-lettered, want 2", n)
	}

	cmds := mon.commands(t)
	for _, want := range []struct {
		key, seq   string
		deliveries int
		cause      string
	}{{"poison", "1", 1, "poison"}, {"flaky", "2", 3, "always fails"}} {
		stream := top.Stream(top.Partition(want.key))
		dead := redstream.DeadLetterKey(stream)
		q, _ := redstream.NewDeadLetterQueue(c, stream, dead)
		letters, err := q.List(ctx, "-", "+", 10)
		if err != nil {
			t.Fatal(err)
		}
		var found []redstream.DeadLetter
		for _, d := range letters {
			if d.Stream == stream {
				found = append(found, d)
			}
		}
		id := idOf[want.key+"/"+want.seq]
		if len(found) != 1 || found[0].OriginalID != id {
			t.Fatalf("%s: dead letters %+v, want one of %s", dead, found, id)
		}
		d := found[0]
		if d.Group != "g" || d.Consumer != tc.Name() || d.Deliveries != want.deliveries || d.Error != want.cause {
			t.Errorf("%s: dead letter %+v, want group g, consumer %s, %d deliveries, error %q", dead, d, tc.Name(), want.deliveries, want.cause)
		}
		fields := map[string]string{}
		for _, f := range d.Fields {
			fields[f.Name] = f.Value
		}
		if fields[redstream.KeyField] != want.key || fields["seq"] != want.seq {
			t.Errorf("%s: dead letter fields %v, want the event's own", dead, d.Fields)
		}
		checkDeadLettersAtomic(t, cmds, stream, dead, []string{id})
	}
}

func TestTopicEventNoLongerPendingIsNeverDeadLettered(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "k", Fields: redstream.Fields("seq", "0")}); err != nil {
		t.Fatal(err)
	}
	handled := make(chan struct{})
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		defer close(handled)
		if err := c.Do(ctx, c.B().Xack().Key(m.Stream).Group("g").Id(m.ID).Build()).Error(); err != nil {
			return err
		}
		return redstream.Permanent(errors.New("gave up after the event was acknowledged elsewhere"))
	})
	tc, err := redstream.NewTopicConsumer(c, top, "g", h)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	select {
	case <-handled:
	case <-time.After(20 * time.Second):
		t.Fatal("the event was never handled")
	}
	if err := tc.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-done
	dead := redstream.DeadLetterKey(top.Stream(0))
	if n, err := c.Do(ctx, c.B().Xlen().Key(dead).Build()).AsInt64(); err != nil || n != 0 {
		t.Fatalf("%s holds %d entries (%v): an acknowledged event was dead-lettered", dead, n, err)
	}
	if n := tc.Stats().DeadLettered; n != 0 {
		t.Fatalf("stats: %d dead-lettered, want 0", n)
	}
}
