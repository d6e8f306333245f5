package redstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// recMetrics records what the hooks are told.
type recMetrics struct {
	redstream.NopMetrics
	mu        sync.Mutex
	published int
	outcomes  map[redstream.Outcome]int
	inFlight  int
	peak      int
	longest   time.Duration // the longest handler call reported
}

func (r *recMetrics) Published(stream string, n int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		r.published += n
	}
}

func (r *recMetrics) Handled(stream, group string, o redstream.Outcome, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.outcomes == nil {
		r.outcomes = map[redstream.Outcome]int{}
	}
	r.outcomes[o]++
	r.longest = max(r.longest, took)
}

func (r *recMetrics) InFlight(stream, group string, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inFlight += d
	r.peak = max(r.peak, r.inFlight)
}

func (r *recMetrics) get(o redstream.Outcome) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomes[o]
}

func TestMetricsHooksSeeEveryOutcome(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	var m recMetrics
	p, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(&m))
	var ids []string
	for range 5 {
		id, err := p.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("a", "b"))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	bad := ids[2]
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, msg *redstream.Message) error {
		if msg.ID == bad {
			return errors.New("always fails")
		}
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(&m), redstream.MaxDeliveries(2), redstream.RetryBackoff(time.Millisecond, time.Millisecond))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "outcomes", func() bool { return m.get(redstream.OutcomeDeadLetter) == 1 && m.get(redstream.OutcomeAck) == 4 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.published != 5 || m.outcomes[redstream.OutcomeRetry] != 1 || m.inFlight != 0 || m.peak < 1 {
		t.Fatalf("metrics: published %d, outcomes %v, in flight %d (peak %d)", m.published, m.outcomes, m.inFlight, m.peak)
	}
	if redstream.OutcomeDeadLetter.String() != "dead_letter" {
		t.Fatal(redstream.OutcomeDeadLetter.String())
	}
}

// Handled is told how long each handler call took (the consumer skips the
// clock only when nobody records it).
func TestHandlerDurationsReachTheMetrics(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 1)
	var m recMetrics
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, msg *redstream.Message) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(&m))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "the entry handled", func() bool { return m.get(redstream.OutcomeAck) == 1 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.longest < 20*time.Millisecond {
		t.Fatalf("Handled was told the call took %v; the handler slept 20ms", m.longest)
	}
}

// PublishTopicWait reports its writes to the metrics as PublishTopic
// does: one per event written.
func TestPublishTopicWaitReportsToMetrics(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := ctxT(t, 10*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	var m recMetrics
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(&m))
	if _, _, err := pub.PublishTopicWait(ctx, top, 0, time.Second,
		redstream.KeyedEntry{Key: "a", Fields: redstream.Fields("f", "1")},
		redstream.KeyedEntry{Key: "b", Fields: redstream.Fields("f", "2")}); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.published != 2 {
		t.Fatalf("metrics counted %d published, want 2", m.published)
	}
}
