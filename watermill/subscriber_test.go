package redstreamwm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		if !ok {
			t.Fatal("output channel closed")
		}
		return msg
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return nil
}

func delivery(t *testing.T, msg *message.Message) redstreamwm.Delivery {
	t.Helper()
	d, ok := redstreamwm.DeliveryFromContext(msg.Context())
	if !ok {
		t.Fatal("message context has no Delivery")
	}
	return d
}

func setup(t *testing.T, group string, opts ...redstreamwm.Option) (*redstreamtest.Server, rueidis.Client, *redstreamwm.Publisher, *redstreamwm.Subscriber) {
	t.Helper()
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	pub, err := redstreamwm.NewPublisher(client, opts...)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := redstreamwm.NewSubscriber(client, group, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return srv, client, pub, sub
}

// pendingOf returns the XPENDING rows of group on stream: ID and delivery
// count per pending entry.
func pendingOf(t *testing.T, srv *redstreamtest.Server, stream, group string) map[string]int64 {
	t.Helper()
	rows, err := srv.Do(t, "XPENDING", stream, group, "-", "+", "100").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		cols, _ := r.ToArray()
		id, _ := cols[0].ToString()
		n, _ := cols[3].AsInt64()
		out[id] = n
	}
	return out
}

func TestRoundTripThroughRedis(t *testing.T) {
	srv, _, pub, sub := setup(t, "g")
	in := message.NewMessage("uuid-1", []byte("binary \x00\xff payload"))
	in.Metadata.Set("trace", "abc")
	in.Metadata.Set("empty", "")
	if err := pub.Publish("orders", in); err != nil {
		t.Fatal(err)
	}
	// The entry is in the documented layout.
	entries, err := srv.Do(t, "XRANGE", "orders", "-", "+").ToArray()
	if err != nil || len(entries) != 1 {
		t.Fatalf("XRANGE: %v entries, err %v", len(entries), err)
	}
	e, _ := entries[0].AsXRangeSlice()
	var names []string
	for _, fv := range e.FieldValues {
		names = append(names, fv.Field)
	}
	if got, want := names, []string{redstream.HeaderPrefix + "empty", redstream.HeaderPrefix + "trace", redstreamwm.UUIDField, redstreamwm.PayloadField}; !slices.Equal(got, want) {
		t.Fatalf("fields = %v, want %v", got, want)
	}
	if e.FieldValues[2].Value != "uuid-1" || e.FieldValues[3].Value != string(in.Payload) {
		t.Fatalf("uuid/payload fields = %q, %q", e.FieldValues[2].Value, e.FieldValues[3].Value)
	}

	ch, err := sub.Subscribe(context.Background(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	out := receive(t, ch)
	out.Ack()
	if !in.Equals(out) {
		t.Fatalf("received %s %q %v, want %s %q %v", out.UUID, out.Payload, out.Metadata, in.UUID, in.Payload, in.Metadata)
	}
	if d := delivery(t, out); d.ID != e.ID || d.Stream != "orders" || d.Group != "g" || d.Deliveries != 1 {
		t.Fatalf("delivery = %+v", d)
	}
}

func TestPlainEntryFromXADD(t *testing.T) {
	srv, _, _, sub := setup(t, "tickets-consumer-group")
	id, err := srv.Do(t, "XADD", "tickets", "*",
		"whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data").ToString()
	if err != nil {
		t.Fatal(err)
	}
	single, err := srv.Do(t, "XADD", "tickets", "*", "payload", `{"raw":true}`).ToString()
	if err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), "tickets")
	if err != nil {
		t.Fatal(err)
	}

	msg := receive(t, ch)
	msg.Ack()
	if msg.UUID != id {
		t.Errorf("UUID = %q, want the entry ID %q", msg.UUID, id)
	}
	if want := `{"whatHappened":"ticket received","ticketID":"98498081","ticketData":"some ticket data"}`; string(msg.Payload) != want {
		t.Errorf("payload = %s, want %s", msg.Payload, want)
	}
	var decoded map[string]string
	if err := json.Unmarshal(msg.Payload, &decoded); err != nil || decoded["ticketID"] != "98498081" {
		t.Errorf("payload does not decode: %v %v", decoded, err)
	}
	want := message.Metadata{"whatHappened": "ticket received", "ticketID": "98498081", "ticketData": "some ticket data"}
	if len(msg.Metadata) != len(want) {
		t.Errorf("metadata = %v, want %v", msg.Metadata, want)
	}
	for k, v := range want {
		if msg.Metadata.Get(k) != v {
			t.Errorf("metadata[%s] = %q, want %q", k, msg.Metadata.Get(k), v)
		}
	}

	msg = receive(t, ch)
	msg.Ack()
	if msg.UUID != single || string(msg.Payload) != `{"raw":true}` || len(msg.Metadata) != 0 {
		t.Errorf("single payload field: got %s %s %v", msg.UUID, msg.Payload, msg.Metadata)
	}
}

func TestNackRedeliversThroughRetryPath(t *testing.T) {
	srv, _, pub, sub := setup(t, "g")
	if err := pub.Publish("jobs", message.NewMessage("job-1", []byte("x"))); err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(context.Background(), "jobs")
	if err != nil {
		t.Fatal(err)
	}
	first := receive(t, ch)
	d1 := delivery(t, first)
	if d1.Deliveries != 1 {
		t.Fatalf("first delivery count = %d", d1.Deliveries)
	}
	start := time.Now()
	first.Nack()
	select {
	case <-first.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("message context not canceled after Nack")
	}
	// Until the redelivery the entry stays pending in the group.
	if p := pendingOf(t, srv, "jobs", "g"); p[d1.ID] != 1 {
		t.Fatalf("after Nack, pending = %v, want %s delivered once", p, d1.ID)
	}

	second := receive(t, ch)
	d2 := delivery(t, second)
	if second.UUID != "job-1" || d2.ID != d1.ID || d2.Deliveries != 2 {
		t.Fatalf("redelivery: uuid %s, delivery %+v; want job-1 on entry %s, deliveries 2", second.UUID, d2, d1.ID)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Errorf("redelivered after %v, before the retry backoff (100ms, jitter in the upper half)", waited)
	}
	// The same entry, claimed again: Redis counts 2 deliveries, and no copy
	// was added to the stream.
	if p := pendingOf(t, srv, "jobs", "g"); p[d1.ID] != 2 || len(p) != 1 {
		t.Fatalf("pending = %v, want only %s with 2 deliveries", p, d1.ID)
	}
	if n, _ := srv.Do(t, "XLEN", "jobs").AsInt64(); n != 1 {
		t.Fatalf("XLEN = %d, want 1", n)
	}
	second.Ack()
	deadline := time.Now().Add(5 * time.Second)
	for len(pendingOf(t, srv, "jobs", "g")) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("entry still pending 5s after Ack")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseLeavesUnackedPendingAndClientUsable(t *testing.T) {
	srv, client, pub, sub := setup(t, "g")
	for _, id := range []string{"m1", "m2"} {
		if err := pub.Publish("events", message.NewMessage(id, []byte(id))); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := sub.Subscribe(context.Background(), "events")
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch) // held, never acked
	d := delivery(t, msg)

	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case _, open := <-ch:
		if open {
			t.Fatal("a message arrived after Close")
		}
	default:
		t.Fatal("output channel not closed when Close returned")
	}
	select {
	case <-msg.Context().Done():
	default:
		t.Fatal("context of the unacked message not canceled by Close")
	}
	if _, err := sub.Subscribe(context.Background(), "events"); !errors.Is(err, redstreamwm.ErrSubscriberClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrSubscriberClosed", err)
	}
	// The unacked entry stays pending. So may m2: the core's read loop can
	// still read once while it shuts down (see the report on
	// Consumer.Shutdown), and that entry is pending too, delivered once.
	p := pendingOf(t, srv, "events", "g")
	if p[d.ID] != 1 {
		t.Fatalf("pending after Close = %v, want the unacked %s", p, d.ID)
	}
	for id, n := range p {
		if n != 1 {
			t.Fatalf("pending entry %s delivered %d times", id, n)
		}
	}

	// The client is still the caller's and still works.
	if err := client.Do(context.Background(), client.B().Ping().Build()).Error(); err != nil {
		t.Fatalf("client after Close: %v", err)
	}
	if err := pub.Publish("events", message.NewMessage("m3", nil)); err != nil {
		t.Fatalf("publish after the subscriber closed: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("events", message.NewMessage("m4", nil)); !errors.Is(err, redstreamwm.ErrPublisherClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}

	// Another subscriber of the group takes the abandoned entry over.
	next, err := redstreamwm.NewSubscriber(client, "g",
		redstreamwm.ConsumerOptions(redstream.ClaimMinIdle(200*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	ch, err = next.Subscribe(context.Background(), "events")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for len(got) < 3 {
		m := receive(t, ch)
		got[m.UUID] = delivery(t, m).Deliveries
		m.Ack()
	}
	if got["m1"] != 2 || got["m2"] != len(p) || got["m3"] != 1 {
		t.Fatalf("deliveries by UUID = %v, want m1 taken over (2), m3 new (1), m2 new unless pending", got)
	}
}

func TestSubscribersInOneGroupCompete(t *testing.T) {
	_, client, pub, _ := setup(t, "")
	const n = 200
	var msgs []*message.Message
	for i := range n {
		msgs = append(msgs, message.NewMessage(fmt.Sprintf("m%d", i), nil))
	}
	if err := pub.Publish("work", msgs...); err != nil {
		t.Fatal(err)
	}
	counts := make(chan map[string]int, 3)
	total := make(chan string, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 3 {
		sub, err := redstreamwm.NewSubscriber(client, "workers")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		ch, err := sub.Subscribe(ctx, "work")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			seen := map[string]int{}
			for m := range ch {
				seen[m.UUID]++
				total <- m.UUID
				time.Sleep(time.Millisecond) // let the others get a share
				m.Ack()
			}
			counts <- seen
		}()
	}
	for range n {
		select {
		case <-total:
		case <-time.After(10 * time.Second):
			t.Fatal("not all messages delivered")
		}
	}
	cancel()
	all := map[string]int{}
	for range 3 {
		seen := <-counts
		if len(seen) == 0 {
			t.Error("a subscriber got nothing: they do not compete")
		}
		for k, v := range seen {
			all[k] += v
		}
	}
	if len(all) != n {
		t.Fatalf("%d distinct messages, want %d", len(all), n)
	}
	for k, v := range all {
		if v != 1 {
			t.Errorf("%s delivered %d times", k, v)
		}
	}
}

func TestFanOutGroupsAreRemovedOnClose(t *testing.T) {
	srv, _, pub, sub := setup(t, "")
	if err := pub.Publish("news", message.NewMessage("n1", nil)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		ch, err := sub.Subscribe(context.Background(), "news")
		if err != nil {
			t.Fatal(err)
		}
		m := receive(t, ch) // each fan-out subscription reads the stream from its start
		m.Ack()
	}
	if groups, _ := srv.Do(t, "XINFO", "GROUPS", "news").ToArray(); len(groups) != 2 {
		t.Fatalf("%d groups while subscribed, want 2", len(groups))
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if groups, _ := srv.Do(t, "XINFO", "GROUPS", "news").ToArray(); len(groups) != 0 {
		t.Fatalf("%d groups left after Close, want 0", len(groups))
	}
}

func TestSubscribeReportsErrors(t *testing.T) {
	srv, _, _, sub := setup(t, "g")
	srv.Do(t, "SET", "not-a-stream", "x")
	if _, err := sub.Subscribe(context.Background(), "not-a-stream"); err == nil {
		t.Fatal("Subscribe to a string key succeeded")
	}
	if _, err := redstreamwm.NewSubscriber(nil, "g"); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Fatalf("nil client: %v", err)
	}
	client := srv.Client(t)
	if _, err := redstreamwm.NewSubscriber(client, "g", redstreamwm.ConsumerOptions(redstream.Concurrency(0))); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Fatalf("invalid consumer option: %v", err)
	}
}
