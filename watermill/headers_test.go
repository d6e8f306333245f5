package redstreamwm_test

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// rawFields returns every entry of stream as XRANGE gives it: the
// field/value pairs as stored, headers under their prefixed names.
func rawFields(t *testing.T, srv *redstreamtest.Server, stream string) [][]redstream.Field {
	t.Helper()
	es, err := srv.Do(t, "XRANGE", stream, "-", "+").AsXRangeSlices()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", stream, err)
	}
	var out [][]redstream.Field
	for _, e := range es {
		var fs []redstream.Field
		for _, fv := range e.FieldValues {
			fs = append(fs, redstream.Field{Name: fv.Field, Value: fv.Value})
		}
		out = append(out, fs)
	}
	return out
}

// consumeN reads n entries of stream with a plain redstream Consumer, as
// a service that knows nothing of Watermill would.
func consumeN(t *testing.T, client rueidis.Client, stream string, n int) []*redstream.Message {
	t.Helper()
	var (
		mu  sync.Mutex
		got []*redstream.Message
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := redstream.NewConsumer(client, stream, "plain", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		c := *m
		c.Headers, c.Fields = slices.Clone(m.Headers), slices.Clone(m.Fields)
		got = append(got, &c)
		if len(got) == n {
			cancel()
		}
		return nil
	}), redstream.StartID("0"), redstream.Concurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("consumer: %v", err)
		}
	case <-time.After(10 * time.Second):
		cons.Close()
		t.Fatalf("plain consumer got %d of %d entries within 10s", len(got), n)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// A published message's metadata is written as headers, one field
// "redstream:h:<key>" each, sorted by key, before the UUID and the
// payload (as XRANGE shows them), and a plain redstream Consumer reads it
// as Message.Headers, apart from the fields: for one message and for a
// batch.
func TestMetadataIsPublishedAsHeaders(t *testing.T) {
	srv, client, pub, _ := setup(t, "g")
	newMsg := func(uuid string) *message.Message {
		m := message.NewMessage(uuid, []byte("payload of "+uuid))
		m.Metadata.Set("traceparent", traceparent)
		m.Metadata.Set("b", "2")
		m.Metadata.Set("a", "1")
		m.Metadata.Set("", "empty key")
		return m
	}
	if err := pub.Publish("orders", newMsg("one")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("orders", newMsg("two"), newMsg("three")); err != nil {
		t.Fatal(err)
	}
	h := redstream.HeaderPrefix
	uuids := []string{"one", "two", "three"}
	raw := rawFields(t, srv, "orders")
	if len(raw) != 3 {
		t.Fatalf("orders holds %d entries, want 3", len(raw))
	}
	for i, fs := range raw {
		want := redstream.Fields(h, "empty key", h+"a", "1", h+"b", "2", h+"traceparent", traceparent,
			redstreamwm.UUIDField, uuids[i], redstreamwm.PayloadField, "payload of "+uuids[i])
		if !reflect.DeepEqual(fs, want) {
			t.Errorf("XRANGE entry %d:\n%q\nwant\n%q", i, fs, want)
		}
	}

	for i, m := range consumeN(t, client, "orders", 3) {
		wantHeaders := redstream.Fields("", "empty key", "a", "1", "b", "2", "traceparent", traceparent)
		wantFields := redstream.Fields(redstreamwm.UUIDField, uuids[i], redstreamwm.PayloadField, "payload of "+uuids[i])
		if !reflect.DeepEqual(m.Headers, wantHeaders) || !reflect.DeepEqual(m.Fields, wantFields) || m.Header("traceparent") != traceparent {
			t.Errorf("redstream Message %d: headers %q fields %q, want %q %q", i, m.Headers, m.Fields, wantHeaders, wantFields)
		}
	}
}

// The same message always gives the same entry, whatever the order in
// which Go's map hands out the metadata.
func TestMarshalIsDeterministic(t *testing.T) {
	msg := message.NewMessage("u", []byte("p"))
	for i := range 30 {
		msg.Metadata.Set(fmt.Sprintf("key-%02d", 29-i), fmt.Sprint(i))
	}
	first, err := redstreamwm.DefaultMarshaler{}.Marshal("s", msg)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(first[:30], func(a, b redstream.Field) int { return cmp.Compare(a.Name, b.Name) }) {
		t.Fatalf("headers not sorted by key: %q", first[:30])
	}
	for range 20 {
		again, _ := redstreamwm.DefaultMarshaler{}.Marshal("s", msg)
		if !reflect.DeepEqual(again, first) {
			t.Fatalf("Marshal gave\n%q\nthen\n%q", first, again)
		}
	}
}

// Headers written by a plain redstream Publisher arrive in Watermill as
// metadata: on an entry in the Watermill layout, and on a plain entry,
// whose payload stays the JSON of its fields alone.
func TestRedstreamHeadersArriveAsMetadata(t *testing.T) {
	_, client, _, sub := setup(t, "g")
	p, err := redstream.NewPublisher(client)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.PublishEntry(ctx, redstream.Entry{Stream: "tickets",
		Headers: redstream.Fields("traceparent", traceparent, "tenant", "acme"),
		Fields:  redstream.Fields(redstreamwm.UUIDField, "uuid-7", redstreamwm.PayloadField, "p"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PublishEntry(ctx, redstream.Entry{Stream: "tickets",
		Headers: redstream.Fields("traceparent", traceparent),
		Fields:  redstream.Fields("whatHappened", "ticket received", "ticketID", "42"),
	}); err != nil {
		t.Fatal(err)
	}
	ch, err := sub.Subscribe(ctx, "tickets")
	if err != nil {
		t.Fatal(err)
	}
	msg := receive(t, ch)
	msg.Ack()
	if want := (message.Metadata{"traceparent": traceparent, "tenant": "acme"}); msg.UUID != "uuid-7" || string(msg.Payload) != "p" || !reflect.DeepEqual(msg.Metadata, want) {
		t.Errorf("Watermill-layout entry with headers: %s %q %v, want uuid-7 \"p\" %v", msg.UUID, msg.Payload, msg.Metadata, want)
	}
	msg = receive(t, ch)
	msg.Ack()
	want := message.Metadata{"traceparent": traceparent, "whatHappened": "ticket received", "ticketID": "42"}
	if string(msg.Payload) != `{"whatHappened":"ticket received","ticketID":"42"}` || !reflect.DeepEqual(msg.Metadata, want) {
		t.Errorf("plain entry with a header: %q %v, want its fields' JSON and %v", msg.Payload, msg.Metadata, want)
	}
}

// Entries with the MessagePack metadata field (watermill-redisstream's,
// or RedisstreamMarshaler's) are still read; a header of the same key
// wins. A plain entry's header wins over its field of the same name.
func TestMetadataFieldAndHeadersTogether(t *testing.T) {
	var theirs redisstream.DefaultMarshallerUnmarshaller
	in := message.NewMessage("u", []byte("p"))
	in.Metadata.Set("a", "1")
	in.Metadata.Set("b", "from the metadata field")
	values, err := theirs.Marshal("s", in)
	if err != nil {
		t.Fatal(err)
	}
	e := asEntry(toFields(values))
	e.Headers = redstream.Fields("b", "from a header", "c", "3", "c", "second")
	got, err := redstreamwm.DefaultMarshaler{}.Unmarshal(e)
	if err != nil {
		t.Fatal(err)
	}
	if want := (message.Metadata{"a": "1", "b": "from a header", "c": "3"}); !reflect.DeepEqual(got.Metadata, want) {
		t.Errorf("metadata = %v, want %v", got.Metadata, want)
	}

	plain := asEntry(redstream.Fields("k", "field"))
	plain.Headers = redstream.Fields("k", "header")
	got, err = redstreamwm.DefaultMarshaler{}.Unmarshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if got.Metadata["k"] != "header" || string(got.Payload) != `{"k":"field"}` {
		t.Errorf("plain entry: metadata %v payload %s", got.Metadata, got.Payload)
	}
	single := asEntry(redstream.Fields(redstreamwm.PayloadField, "raw"))
	single.Headers = redstream.Fields("k", "v")
	got, err = redstreamwm.DefaultMarshaler{}.Unmarshal(single)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Metadata, message.Metadata{"k": "v"}) || string(got.Payload) != "raw" {
		t.Errorf("payload-only entry: metadata %v payload %s", got.Metadata, got.Payload)
	}
}

// RedisstreamMarshaler writes watermill-redisstream's layout, which that
// library's subscribers read with the metadata; DefaultMarshaler's
// entries reach them with UUID and payload but not the metadata, which
// they do not look for in headers.
func TestRedisstreamMarshalerKeepsWatermillRedisstreamsLayout(t *testing.T) {
	srv, _, _, _ := setup(t, "g")
	old, err := redstreamwm.NewPublisher(srv.Client(t), redstreamwm.WithMarshaler(redstreamwm.RedisstreamMarshaler{}))
	if err != nil {
		t.Fatal(err)
	}
	in := message.NewMessage("u-1", []byte("p"))
	in.Metadata.Set("traceparent", traceparent)
	if err := old.Publish("legacy", in); err != nil {
		t.Fatal(err)
	}
	raw := rawFields(t, srv, "legacy")
	if len(raw) != 1 || len(raw[0]) != 3 || raw[0][0].Name != redstreamwm.UUIDField || raw[0][1].Name != redstreamwm.PayloadField || raw[0][2].Name != redstreamwm.MetadataField {
		t.Fatalf("RedisstreamMarshaler wrote %q", raw)
	}
	var theirs redisstream.DefaultMarshallerUnmarshaller
	values := map[string]any{}
	for _, f := range raw[0] {
		values[f.Name] = f.Value
	}
	got, err := theirs.Unmarshal(values)
	if err != nil || !in.Equals(got) {
		t.Fatalf("watermill-redisstream reads %v (%v), want %v", got, err, in)
	}
	// Both marshalers read what the other writes.
	for _, m := range []redstreamwm.Marshaler{redstreamwm.DefaultMarshaler{}, redstreamwm.RedisstreamMarshaler{}} {
		for _, w := range []redstreamwm.Marshaler{redstreamwm.DefaultMarshaler{}, redstreamwm.RedisstreamMarshaler{}} {
			fs, err := w.Marshal("s", in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Unmarshal(asEntry(fs))
			if err != nil || !in.Equals(got) {
				t.Errorf("%T reads %T's entry as %v (%v)", m, w, got, err)
			}
		}
	}
	fs, _ := redstreamwm.DefaultMarshaler{}.Marshal("s", in)
	values = map[string]any{}
	for _, f := range fs {
		values[f.Name] = f.Value
	}
	got, err = theirs.Unmarshal(values)
	if err != nil || got.UUID != "u-1" || string(got.Payload) != "p" || len(got.Metadata) != 0 {
		t.Errorf("watermill-redisstream reads DefaultMarshaler's entry as %v (%v), want UUID and payload without metadata", got, err)
	}
}

// headerTracer is a publish tracer that records the headers it is given
// and adds one, as an OpenTelemetry propagator would add traceparent.
type headerTracer struct {
	redstream.NopMetrics
	mu   sync.Mutex
	seen [][]redstream.Field
}

func (tr *headerTracer) TracePublish(_ context.Context, call *redstream.PublishCall) func([]string, error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := range call.Entries {
		e := &call.Entries[i]
		tr.seen = append(tr.seen, slices.Clone(e.Headers))
		e.Headers = append(slices.Clone(e.Headers), redstream.Field{Name: "added", Value: "by the tracer"})
	}
	return nil
}

// The Publisher hands the metadata to a publish tracer as the entry's
// headers, and what the tracer adds arrives as metadata.
func TestPublishTracerSeesMetadataAsHeaders(t *testing.T) {
	tr := &headerTracer{}
	_, _, pub, sub := setup(t, "g", redstreamwm.PublisherOptions(redstream.WithPublishMetrics(tr)))
	in := message.NewMessage("u-1", []byte("p"))
	in.Metadata.Set("tenant", "acme")
	if err := pub.Publish("traced", in); err != nil {
		t.Fatal(err)
	}
	tr.mu.Lock()
	seen := tr.seen
	tr.mu.Unlock()
	if want := [][]redstream.Field{redstream.Fields("tenant", "acme")}; !reflect.DeepEqual(seen, want) {
		t.Errorf("the tracer saw headers %q, want %q", seen, want)
	}
	ch, err := sub.Subscribe(context.Background(), "traced")
	if err != nil {
		t.Fatal(err)
	}
	out := receive(t, ch)
	out.Ack()
	if want := (message.Metadata{"tenant": "acme", "added": "by the tracer"}); !reflect.DeepEqual(out.Metadata, want) {
		t.Errorf("metadata = %v, want %v", out.Metadata, want)
	}
}
