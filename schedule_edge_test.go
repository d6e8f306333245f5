package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/aclroles"
)

// A scheduled entry with more fields than the move script can pass to
// XADD must be refused when it is scheduled: accepted, it can never be
// moved, and as the head of the waiting set it blocks every entry
// scheduled after it for good.
func TestScheduledEntryWithManyFieldsIsRefusedOrMoved(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	fields := make([]redstream.Field, 5000)
	for i := range fields {
		fields[i] = redstream.Field{Name: fmt.Sprintf("f%d", i), Value: "v"}
	}
	fields[0] = redstream.Field{Name: "seq", Value: "big"}
	_, bigErr := p.PublishIn(ctxT(t, 10*time.Second), stream, 0, fields)
	if bigErr != nil && !errors.Is(bigErr, redstream.ErrInvalidOption) {
		t.Fatalf("PublishIn with 5000 fields: %v, want nil or ErrInvalidOption", bigErr)
	}
	if _, err := p.PublishIn(ctxT(t, 10*time.Second), stream, 0, redstream.Fields("seq", "small")); err != nil {
		t.Fatal(err)
	}
	want := int64(2)
	if bigErr != nil {
		want = 1
	}
	var got atomic.Int64
	runSchedConsumer(t, c, stream, "g", "c1", func(_ context.Context, m *redstream.Message) error {
		got.Add(1)
		return nil
	})
	waitFor(t, 20*time.Second, "every scheduled entry to arrive (the big one blocks the stream)", func() bool {
		return got.Load() == want
	})
}

// Two different streams, "S" and "{S}", must not share de-duplication
// markers: an entry with MsgID m published to "{S}" is not a duplicate of
// one published to "S".
func TestMsgIDMarkersOfDifferentStreamsDoNotCollide(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	plain := key(t, "s")
	tagged := "{" + plain + "}"
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	first, err := p.PublishEntry(ctxT(t, 10*time.Second), redstream.Entry{Stream: plain, MsgID: "m1", Fields: redstream.Fields("seq", "1")})
	if err != nil || first.Duplicate {
		t.Fatalf("first publish: %+v, %v", first, err)
	}
	second, err := p.PublishEntry(ctxT(t, 10*time.Second), redstream.Entry{Stream: tagged, MsgID: "m1", Fields: redstream.Fields("seq", "2")})
	if err != nil {
		t.Fatal(err)
	}
	if second.Duplicate {
		t.Errorf("entry to %q reported a duplicate of the entry %s in the other stream %q", tagged, second.ID, plain)
	}
	if seqs := streamSeqs(t, c, tagged); len(seqs) != 1 {
		t.Errorf("stream %q holds %v, want the one entry published to it", tagged, seqs)
	}
}

// A topic event with a MsgID scheduled with PublishTopicIn must either be
// de-duplicated or refused; silently dropping the MsgID writes the event
// twice when the producer retries, which is what MsgID promises not to.
func TestScheduledTopicEventWithMsgIDIsNotSilentlyDoubled(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 20*time.Second)
	topic, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	ev := redstream.KeyedEntry{Key: "k", MsgID: "once", Fields: redstream.Fields("seq", "1")}
	var refused bool
	for range 2 { // a producer retrying after a lost reply
		_, err := p.PublishTopicIn(ctx, topic, 0, ev)
		if err != nil {
			if !errors.Is(err, redstream.ErrInvalidOption) {
				t.Fatalf("PublishTopicIn: %v", err)
			}
			refused = true
		}
	}
	if refused {
		return
	}
	stream := topic.Stream(topic.Partition("k"))
	in := redstream.NewInspector(c)
	sched, err := in.Scheduled(ctx, stream, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(sched) != 1 {
		t.Errorf("the event with MsgID %q waits %d times in %s, want once (or the call refused)", ev.MsgID, len(sched), stream)
	}
}

// The README's least-privilege section must give a line that lets a topic
// publisher schedule events (PublishTopicIn); the topic publisher's line
// is the only topic-publishing one, and it refuses the schedule script.
func TestACLTopicPublisherCanSchedule(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, time.Minute)
	if _, err := redstream.CreateTopic(ctx, admin, "orders", 4); err != nil {
		t.Fatal(err)
	}
	c := aclUser(t, srv, aclroles.TopicPublisher.Line)
	top, err := redstream.OpenTopic(ctx, c, "orders")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	if _, err := p.PublishTopicIn(ctx, top, time.Hour, redstream.KeyedEntry{Key: "k", Fields: redstream.Fields("n", "1")}); err != nil {
		t.Errorf("PublishTopicIn as the topic publisher: %v", err)
	}
}
