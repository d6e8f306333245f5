package redstreamwm_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

func newPublisher(t *testing.T, srv *redstreamtest.Server, opts ...redstreamwm.Option) *redstreamwm.Publisher {
	t.Helper()
	pub, err := redstreamwm.NewPublisher(srv.Client(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

func mustPublish(t *testing.T, pub *redstreamwm.Publisher, topic string, msgs ...*message.Message) {
	t.Helper()
	if err := pub.Publish(topic, msgs...); err != nil {
		t.Fatal(err)
	}
}

// streamUUIDs returns the UUID field of every entry of stream, in order.
func streamUUIDs(t *testing.T, srv *redstreamtest.Server, stream string) []string {
	t.Helper()
	entries, err := srv.Do(t, "XRANGE", stream, "-", "+").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		cols, _ := e.ToArray()
		fields, _ := cols[1].AsStrSlice()
		uuid := "<none>"
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i] == redstreamwm.UUIDField {
				uuid = fields[i+1]
			}
		}
		out = append(out, uuid)
	}
	return out
}

func wantUUIDs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("stream holds %q, want %q", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("stream holds %q, want %q", got, want)
		}
	}
}

func TestPublishIsIdempotentPerUUID(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	pub := newPublisher(t, srv)
	const topic = "orders"

	mustPublish(t, pub, topic, message.NewMessage("a", []byte("1")))
	mustPublish(t, pub, topic, message.NewMessage("a", []byte("1"))) // a retry: nothing appended
	wantUUIDs(t, streamUUIDs(t, srv, topic), "a")

	mustPublish(t, pub, topic, message.NewMessage("b", []byte("2")))
	wantUUIDs(t, streamUUIDs(t, srv, topic), "a", "b")

	// Several at once (pipelined): each message on its own.
	mustPublish(t, pub, topic,
		message.NewMessage("b", []byte("2")),
		message.NewMessage("c", []byte("3")),
		message.NewMessage("c", []byte("3")),
		message.NewMessage("d", []byte("4")),
	)
	wantUUIDs(t, streamUUIDs(t, srv, topic), "a", "b", "c", "d")

	// The same UUID on another topic is another message.
	mustPublish(t, pub, "invoices", message.NewMessage("a", []byte("1")))
	wantUUIDs(t, streamUUIDs(t, srv, "invoices"), "a")

	// The dedupe key holds the first copy's entry ID and expires.
	ids, err := srv.Do(t, "XRANGE", topic, "-", "+", "COUNT", "1").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := ids[0].ToArray()
	firstID, _ := first[0].ToString()
	if got, _ := srv.Do(t, "GET", "{orders}:wm-dedup:a").ToString(); got != firstID {
		t.Fatalf("dedupe key holds %q, want %q", got, firstID)
	}
	ttl, _ := srv.Do(t, "PTTL", "{orders}:wm-dedup:a").AsInt64()
	if ttl <= 0 || ttl > redstreamwm.DefaultDedupWindow.Milliseconds() {
		t.Fatalf("dedupe key PTTL %d, want in (0, %d]", ttl, redstreamwm.DefaultDedupWindow.Milliseconds())
	}

	// Without a UUID there is nothing to deduplicate on.
	mustPublish(t, pub, "anon", message.NewMessage("", []byte("x")))
	mustPublish(t, pub, "anon", message.NewMessage("", []byte("x")), message.NewMessage("", []byte("x")))
	if n, _ := srv.Do(t, "XLEN", "anon").AsInt64(); n != 3 {
		t.Fatalf("XLEN anon = %d, want 3", n)
	}
}

func TestPublishDedupWindow(t *testing.T) {
	srv := redstreamtest.StartRedis(t)

	short := newPublisher(t, srv, redstreamwm.DedupWindow(200*time.Millisecond))
	mustPublish(t, short, "short", message.NewMessage("a", nil))
	mustPublish(t, short, "short", message.NewMessage("a", nil))
	wantUUIDs(t, streamUUIDs(t, srv, "short"), "a")
	if ttl, _ := srv.Do(t, "PTTL", "{short}:wm-dedup:a").AsInt64(); ttl <= 0 || ttl > 200 {
		t.Fatalf("dedupe key PTTL %d, want in (0, 200]", ttl)
	}
	time.Sleep(400 * time.Millisecond) // past the window: the UUID is forgotten
	mustPublish(t, short, "short", message.NewMessage("a", nil))
	wantUUIDs(t, streamUUIDs(t, srv, "short"), "a", "a")

	off := newPublisher(t, srv, redstreamwm.DedupWindow(0))
	mustPublish(t, off, "off", message.NewMessage("a", nil))
	mustPublish(t, off, "off", message.NewMessage("a", nil), message.NewMessage("a", nil))
	wantUUIDs(t, streamUUIDs(t, srv, "off"), "a", "a", "a")
	if n, _ := srv.Do(t, "EXISTS", "{off}:wm-dedup:a").AsInt64(); n != 0 {
		t.Fatal("DedupWindow(0) wrote a dedupe key")
	}

	for _, d := range []time.Duration{-time.Second, time.Microsecond} {
		if _, err := redstreamwm.NewPublisher(srv.Client(t), redstreamwm.DedupWindow(d)); !errors.Is(err, redstreamwm.ErrInvalidOption) {
			t.Errorf("DedupWindow(%v): err %v, want ErrInvalidOption", d, err)
		}
	}
}

// TestPublishDedupAfterScriptFlush: a server that lost its script cache
// (a restart) still gets every message, once.
func TestPublishDedupAfterScriptFlush(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	pub := newPublisher(t, srv)
	for _, uuid := range []string{"a", "b"} {
		srv.Do(t, "SCRIPT", "FLUSH")
		mustPublish(t, pub, "t", message.NewMessage(uuid, nil))
	}
	srv.Do(t, "SCRIPT", "FLUSH")
	mustPublish(t, pub, "t", message.NewMessage("b", nil), message.NewMessage("c", nil), message.NewMessage("d", nil))
	wantUUIDs(t, streamUUIDs(t, srv, "t"), "a", "b", "c", "d")
}

type countingMetrics struct {
	redstream.NopMetrics
	ok, failed atomic.Int64
}

func (m *countingMetrics) Published(_ string, n int, err error) {
	if err != nil {
		m.failed.Add(int64(n))
	} else {
		m.ok.Add(int64(n))
	}
}

// TestPublishDedupKeepsPublisherOptions: the redstream.Publisher's options
// and error reporting still apply to writes made through the script.
func TestPublishDedupKeepsPublisherOptions(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	m := &countingMetrics{}
	pub := newPublisher(t, srv, redstreamwm.PublisherOptions(redstream.WithPublishMetrics(m), redstream.MaxLen(1)))
	for i := range 300 {
		mustPublish(t, pub, "trimmed", message.NewMessage(string(rune('a'+i%26))+time.Now().String(), nil))
	}
	if n, _ := srv.Do(t, "XLEN", "trimmed").AsInt64(); n >= 300 {
		t.Fatalf("XLEN = %d: MaxLen did not trim", n)
	}
	if m.ok.Load() != 300 {
		t.Fatalf("metrics saw %d published, want 300", m.ok.Load())
	}

	srv.Do(t, "SET", "notastream", "x")
	err := pub.Publish("notastream", message.NewMessage("a", nil))
	if !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("publish to a string key: %v, want ErrNotStream", err)
	}
	err = pub.Publish("notastream", message.NewMessage("b", nil), message.NewMessage("c", nil))
	var be *redstream.BatchError
	if !errors.As(err, &be) || !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("batch publish to a string key: %v, want a BatchError of ErrNotStream", err)
	}
	if m.failed.Load() != 3 {
		t.Fatalf("metrics saw %d failed, want 3", m.failed.Load())
	}
}
