package redstreamotel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// TestMetricsFollowTheConventions: messages sent and consumed are counted
// and processing is timed under the conventions' names, units and
// attributes, with error.type on failures.
func TestMetricsFollowTheConventions(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream, group := t.Name(), "g"
	bad := t.Name() + ":bad"
	srv.Do(t, "SET", bad, "x")

	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	ctx := ctxT(t, 10*time.Second)
	for i := range 2 {
		if _, err := pub.Publish(ctx, stream, redstream.Fields("i", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.PublishBatch(ctx, []redstream.Entry{
		{Stream: stream, Fields: redstream.Fields("i", "2")},
		{Stream: stream, Fields: redstream.Fields("i", "fail")},
		{Stream: stream, Fields: redstream.Fields("i", "4")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, bad, redstream.Fields("k", "v")); !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("publish to a string: %v", err)
	}
	h := redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		if m.Value("i") == "fail" {
			return redstream.Permanent(errors.New("no"))
		}
		return nil
	})
	cons, err := redstream.NewConsumer(client, stream, group, h, redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	tr.wait(t, "process "+stream, 5)

	rm := tr.collect(t)
	base := []string{"messaging.system", "redis"}
	sent := kvs(append(base, "messaging.operation.name", "send", "messaging.destination.name", stream)...)
	if v, ok := counter(rm, "messaging.client.sent.messages", sent); v != 5 || !ok {
		t.Errorf("messaging.client.sent.messages%v = %d, want 5; have:\n%s", sent.ToSlice(), v, dump(rm, "messaging.client.sent.messages"))
	}
	failed := kvs(append(base, "messaging.operation.name", "send", "messaging.destination.name", bad, "error.type", "not_stream")...)
	if v, _ := counter(rm, "messaging.client.sent.messages", failed); v != 1 {
		t.Errorf("messaging.client.sent.messages%v = %d, want 1; have:\n%s", failed.ToSlice(), v, dump(rm, "messaging.client.sent.messages"))
	}
	consumed := kvs(append(base, "messaging.operation.name", "process", "messaging.destination.name", stream, "messaging.consumer.group.name", group)...)
	if v, _ := counter(rm, "messaging.client.consumed.messages", consumed); v != 5 {
		t.Errorf("messaging.client.consumed.messages%v = %d, want 5; have:\n%s", consumed.ToSlice(), v, dump(rm, "messaging.client.consumed.messages"))
	}
	ok := consumed
	if n, _ := histogramCount(rm, "messaging.process.duration", ok); n != 4 {
		t.Errorf("messaging.process.duration%v count %d, want 4; have:\n%s", ok.ToSlice(), n, dump(rm, "messaging.process.duration"))
	}
	perm := kvs(append(base, "messaging.operation.name", "process", "messaging.destination.name", stream, "messaging.consumer.group.name", group, "error.type", "permanent")...)
	if n, _ := histogramCount(rm, "messaging.process.duration", perm); n != 1 {
		t.Errorf("messaging.process.duration%v count %d, want 1; have:\n%s", perm.ToSlice(), n, dump(rm, "messaging.process.duration"))
	}
	for name, unit := range map[string]string{
		"messaging.client.sent.messages":     "{message}",
		"messaging.client.consumed.messages": "{message}",
		"messaging.process.duration":         "s",
	} {
		if _, got := instrument(rm, name); got != unit {
			t.Errorf("%s unit %q, want %q", name, got, unit)
		}
	}
}
