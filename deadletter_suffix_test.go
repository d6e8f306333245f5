package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// TestDeadLetterSuffixNamesTheDeadLetterStream dead-letters entries of a
// Consumer with DeadLetterSuffix(":poison") in all three ways (Permanent,
// failing on the last allowed delivery, delivered more than MaxDeliveries
// times by a consumer that stalled): they go to "<stream>:poison", none to
// "<stream>:dead", and an Inspector and a DeadLetterQueue told the suffix
// find them.
func TestDeadLetterSuffixNamesTheDeadLetterStream(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	stream := key(t, "s")
	poisonKey, defaultKey := stream+":poison", redstream.DeadLetterKey(stream)

	// An entry another consumer read and stalled on, delivered 5 times.
	stalled := srv.Do(t, "XADD", stream, "*", "seq", "stalled")
	stalledID, err := stalled.ToString()
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", stream, "g", "0"},
		{"XREADGROUP", "GROUP", "g", "gone", "COUNT", "1", "STREAMS", stream, ">"},
		{"XCLAIM", stream, "g", "gone", "0", stalledID, "RETRYCOUNT", "5"},
	} {
		if err := srv.Do(t, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	// seq%3: 0 fails permanently, 1 fails every time, 2 succeeds.
	publishN(t, c, stream, 6)
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		n, err := strconv.Atoi(m.Value("seq"))
		if err != nil {
			return fmt.Errorf("handler called for %s (seq %q)", m.ID, m.Value("seq"))
		}
		switch n % 3 {
		case 0:
			return redstream.Permanent(errors.New("permanent"))
		case 1:
			return errors.New("flaky")
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.Name("c1"),
		redstream.DeadLetterSuffix(":poison"), redstream.MaxDeliveries(2),
		redstream.RetryBackoff(5*time.Millisecond, 10*time.Millisecond),
		redstream.ClaimMinIdle(100*time.Millisecond), redstream.ClaimInterval(20*time.Millisecond),
		redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 20*time.Second, "2 handled and 5 dead-lettered", func() bool {
		s := cons.Stats()
		return s.Acked == 2 && s.DeadLettered == 5
	})
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d entries pending, want 0", n)
	}
	if n, err := c.Do(ctx, c.B().Exists().Key(defaultKey).Build()).AsInt64(); err != nil || n != 0 {
		t.Fatalf("EXISTS %s = %d, %v; with DeadLetterSuffix(\":poison\") nothing goes there", defaultKey, n, err)
	}

	dlq, err := redstream.NewDeadLetterQueue(c, stream, poisonKey)
	if err != nil {
		t.Fatal(err)
	}
	letters, err := dlq.List(ctx, "-", "+", 100)
	if err != nil || len(letters) != 5 {
		t.Fatalf("List of %s = %d, %v; want 5", poisonKey, len(letters), err)
	}
	deliveries := map[string]int{} // seq -> deliveries
	for _, d := range letters {
		if d.Stream != stream || d.Group != "g" || d.Consumer != "c1" {
			t.Fatalf("dead letter %+v", d)
		}
		seq := d.Fields[0].Value
		switch {
		case seq == "stalled" && strings.Contains(d.Error, "more than MaxDeliveries"),
			(seq == "0" || seq == "3") && d.Error == "permanent",
			(seq == "1" || seq == "4") && d.Error == "flaky":
		default:
			t.Fatalf("dead letter of seq %s with error %q", seq, d.Error)
		}
		deliveries[seq] = d.Deliveries
	}
	if want := map[string]int{"stalled": 6, "0": 1, "3": 1, "1": 2, "4": 2}; !maps.Equal(deliveries, want) {
		t.Fatalf("deliveries of the dead letters %v, want %v", deliveries, want)
	}

	info, err := redstream.NewInspector(c, redstream.InspectDeadLetterSuffix(":poison")).Stream(ctx, stream)
	if err != nil || info.DeadLetterStream != poisonKey || info.DeadLetters != 5 {
		t.Fatalf("Inspector with the suffix: %+v, %v; want DeadLetterStream %s with 5", info, err, poisonKey)
	}
	info, err = redstream.NewInspector(c).Stream(ctx, stream)
	if err != nil || info.DeadLetterStream != defaultKey || info.DeadLetters != 0 {
		t.Fatalf("default Inspector: %+v, %v; want DeadLetterStream %s with 0", info, err, defaultKey)
	}

	if n, err := dlq.Replay(ctx, letters[0].ID); err != nil || n != 1 {
		t.Fatalf("Replay from %s = %d, %v; want 1", poisonKey, n, err)
	}
	if n, _ := dlq.Len(ctx); n != 4 {
		t.Fatalf("%d dead letters in %s after replaying one, want 4", n, poisonKey)
	}
}

// TestTopicDeadLetterSuffix dead-letters events of a TopicConsumer with
// DeadLetterSuffix(":poison") into "<partition stream>:poison".
func TestTopicDeadLetterSuffix(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.KeyedEntry
	for s := range 3 {
		for _, k := range []string{"bad", "flaky", "good"} {
			batch = append(batch, redstream.KeyedEntry{Key: k, Fields: redstream.Fields("seq", strconv.Itoa(s))})
		}
	}
	if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
		t.Fatal(err)
	}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		switch m.Value(redstream.KeyField) {
		case "bad":
			return redstream.Permanent(errors.New("permanent"))
		case "flaky":
			return errors.New("flaky")
		}
		return nil
	})
	tc, err := redstream.NewTopicConsumer(c, top, "g", h, redstream.DeadLetterSuffix(":poison"),
		redstream.MaxDeliveries(2), redstream.RetryBackoff(5*time.Millisecond, 10*time.Millisecond), redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close() })
	waitFor(t, 20*time.Second, "3 handled and 6 dead-lettered", func() bool {
		s := tc.Stats()
		return s.Handled == 3 && s.DeadLettered == 6
	})
	if err := tc.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	want := map[string]int64{} // partition stream -> its dead letters
	for _, k := range []string{"bad", "flaky"} {
		want[top.Stream(top.Partition(k))] += 3
	}
	in := redstream.NewInspector(c, redstream.InspectDeadLetterSuffix(":poison"))
	for i := range top.Partitions() {
		s := top.Stream(i)
		if n, err := c.Do(ctx, c.B().Exists().Key(redstream.DeadLetterKey(s)).Build()).AsInt64(); err != nil || n != 0 {
			t.Fatalf("EXISTS %s = %d, %v; with DeadLetterSuffix(\":poison\") nothing goes there", redstream.DeadLetterKey(s), n, err)
		}
		info, err := in.Stream(ctx, s)
		if err != nil || info.DeadLetterStream != s+":poison" || info.DeadLetters != want[s] {
			t.Fatalf("partition %d: %+v, %v; want %d dead letters in %s", i, info, err, want[s], s+":poison")
		}
		dlq, _ := redstream.NewDeadLetterQueue(c, s, s+":poison")
		letters, err := dlq.List(ctx, "-", "+", 100)
		if err != nil || int64(len(letters)) != want[s] {
			t.Fatalf("List of %s = %d, %v; want %d", s+":poison", len(letters), err, want[s])
		}
		for _, d := range letters {
			if d.Stream != s || d.Group != "g" {
				t.Fatalf("dead letter %+v, want one of %s in group g", d, s)
			}
		}
	}
}
