package redstreamotel_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

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

// TestProcessDurationIsTheProcessSpansDuration: messaging.process.duration
// records, for each handler call, the duration of its process span, from
// the start of the call to the span's end, which comes after the
// consumer acknowledged or dead-lettered the message; not the handler's
// time alone.
func TestProcessDurationIsTheProcessSpansDuration(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream, group := t.Name(), "g"
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	ctx := ctxT(t, 10*time.Second)
	for _, v := range []string{"ok", "fail"} {
		if _, err := pub.Publish(ctx, stream, redstream.Fields("i", v)); err != nil {
			t.Fatal(err)
		}
	}
	h := redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		if m.Value("i") == "fail" {
			return redstream.Permanent(errors.New("no")) // dead-lettered before the span ends
		}
		return nil
	})
	cons, err := redstream.NewConsumer(client, stream, group, h, redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	spans := tr.wait(t, "process "+stream, 2)

	base := []string{"messaging.system", "redis", "messaging.operation.name", "process",
		"messaging.destination.name", stream, "messaging.consumer.group.name", group}
	series := map[string]attribute.Set{ // by outcome
		"ack":         kvs(base...),
		"dead_letter": kvs(append(base, "error.type", "permanent")...),
	}
	var rm metricdata.ResourceMetrics
	// The span ends, and so reaches the recorder, just before its time is
	// recorded: wait for both measurements.
	waitFor(t, 10*time.Second, "a measurement of each call", func() bool {
		rm = tr.collect(t)
		for _, set := range series {
			if dp, _ := histogramPoint(rm, "messaging.process.duration", set); dp.Count < 1 {
				return false
			}
		}
		return true
	})
	for _, s := range spans {
		outcome, _ := attr(s, "redstream.outcome")
		set, ok := series[outcome.AsString()]
		if !ok {
			t.Fatalf("process span with outcome %q", outcome.AsString())
		}
		dp, _ := histogramPoint(rm, "messaging.process.duration", set)
		if dp.Count != 1 || dp.Sum != lasted(s) {
			t.Errorf("messaging.process.duration%v: count %d, sum %vs; want 1 of the span's duration %vs", set.ToSlice(), dp.Count, dp.Sum, lasted(s))
		}
		if !slices.Equal(dp.Bounds, conventionBuckets) {
			t.Errorf("messaging.process.duration buckets %v, want the conventions' %v", dp.Bounds, conventionBuckets)
		}
	}
	if _, unit := instrument(rm, "messaging.process.duration"); unit != "s" {
		t.Errorf("messaging.process.duration unit %q, want s", unit)
	}
}

// TestPublishOperationDurationIsTheSendSpansDuration: every publish call,
// of one entry or of a batch, failed or not, records its send span's
// duration in messaging.client.operation.duration, with the conventions'
// attributes: the operation's name and type, the destination, and
// error.type on failure.
func TestPublishOperationDurationIsTheSendSpansDuration(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	one, batch, bad := t.Name()+":one", t.Name()+":batch", t.Name()+":bad"
	srv.Do(t, "SET", bad, "x")
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	ctx := ctxT(t, 10*time.Second)
	if _, err := pub.Publish(ctx, one, redstream.Fields("k", "v")); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishBatch(ctx, []redstream.Entry{
		{Stream: batch, Fields: redstream.Fields("i", "0")},
		{Stream: batch, Fields: redstream.Fields("i", "1")},
		{Stream: batch, Fields: redstream.Fields("i", "2")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Publish(ctx, bad, redstream.Fields("k", "v")); !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("publish to a string: %v", err)
	}

	rm := tr.collect(t)
	const name = "messaging.client.operation.duration"
	base := []string{"messaging.system", "redis", "messaging.operation.name", "send", "messaging.operation.type", "send"}
	for _, c := range []struct {
		span  string
		attrs []string
	}{
		{"send " + one, append(base, "messaging.destination.name", one)},
		{"send " + batch, append(base, "messaging.destination.name", batch)},
		{"send " + bad, append(base, "messaging.destination.name", bad, "error.type", "not_stream")},
	} {
		span := tr.one(t, c.span)
		set := kvs(c.attrs...)
		dp, ok := histogramPoint(rm, name, set)
		if !ok {
			t.Errorf("no %s%v; have:\n%s", name, set.ToSlice(), dump(rm, name))
			continue
		}
		if dp.Count != 1 || dp.Sum != lasted(span) {
			t.Errorf("%s%v: count %d, sum %vs; want 1 of span %q's duration %vs", name, set.ToSlice(), dp.Count, dp.Sum, c.span, lasted(span))
		}
		if !slices.Equal(dp.Bounds, conventionBuckets) {
			t.Errorf("%s buckets %v, want the conventions' %v", name, dp.Bounds, conventionBuckets)
		}
	}
	if data, _ := instrument(rm, name); data != nil {
		if n := len(data.(metricdata.Histogram[float64]).DataPoints); n != 3 {
			t.Errorf("%s has %d series, want 3 (one per call); have:\n%s", name, n, dump(rm, name))
		}
	}
	if _, unit := instrument(rm, name); unit != "s" {
		t.Errorf("%s unit %q, want s", name, unit)
	}
}
