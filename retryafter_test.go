package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// attempt is one handler call as a test saw it.
type attempt struct {
	id         string
	deliveries int
	last       bool
	at         time.Time
}

// attempts records handler calls.
type attempts struct {
	mu   sync.Mutex
	list []attempt
}

func (a *attempts) add(m *redstream.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, attempt{id: m.ID, deliveries: m.Deliveries, last: m.LastAttempt(), at: time.Now()})
}

// of returns the calls for entry id, in order.
func (a *attempts) of(id string) []attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []attempt
	for _, x := range a.list {
		if x.id == id {
			out = append(out, x)
		}
	}
	return out
}

// A handler's RetryAfter replaces the consumer's backoff, whether that is
// far longer (the retry comes anyway) or far shorter (it does not come
// before the delay).
func TestRetryAfterReplacesTheBackoff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		backoff time.Duration
		after   time.Duration
	}{
		{"sooner than the backoff", time.Hour, 200 * time.Millisecond},
		{"later than the backoff", time.Millisecond, 700 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sharedRedis(t)
			c := dial(t, srv)
			stream := key(t, "s")
			id := publishN(t, c, stream, 1)[0]
			var seen attempts
			h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
				seen.add(m)
				if m.Deliveries == 1 {
					return redstream.RetryAfter(errors.New("busy"), tc.after)
				}
				return nil
			})
			cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"),
				redstream.RetryBackoff(tc.backoff, tc.backoff), redstream.MaxDeliveries(0))
			if err != nil {
				t.Fatal(err)
			}
			runConsumer(t, cons)
			waitFor(t, 30*time.Second, "the retry handled", func() bool { return cons.Stats().Handled == 1 })
			got := seen.of(id)
			if len(got) != 2 || got[1].deliveries != 2 {
				t.Fatalf("handler calls %+v, want two (deliveries 1, 2)", got)
			}
			if gap := got[1].at.Sub(got[0].at); gap < tc.after {
				t.Fatalf("retried %v after the failure, before the %v RetryAfter asked for", gap, tc.after)
			}
		})
	}
}

// Message.LastAttempt is true exactly on the delivery whose failure
// dead-letters the entry; with MaxDeliveries 0 never.
func TestLastAttemptFlag(t *testing.T) {
	t.Run("MaxDeliveries 3", func(t *testing.T) {
		srv := sharedRedis(t)
		c := dial(t, srv)
		stream := key(t, "s")
		id := publishN(t, c, stream, 1)[0]
		var seen attempts
		h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
			seen.add(m)
			return errors.New("always")
		})
		cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"),
			redstream.RetryBackoff(time.Millisecond, time.Millisecond), redstream.MaxDeliveries(3))
		if err != nil {
			t.Fatal(err)
		}
		runConsumer(t, cons)
		waitFor(t, 30*time.Second, "the entry dead-lettered", func() bool { return cons.Stats().DeadLettered == 1 })
		var flags []string
		for _, a := range seen.of(id) {
			flags = append(flags, fmt.Sprintf("%d:%v", a.deliveries, a.last))
		}
		if got, want := fmt.Sprint(flags), "[1:false 2:false 3:true]"; got != want {
			t.Fatalf("deliveries:LastAttempt = %s, want %s", got, want)
		}
		if dead := deadOriginals(t, c, stream, redstream.DeadLetterKey(stream)); len(dead) != 1 || dead[0] != id {
			t.Fatalf("dead letters of %v, want [%s]", dead, id)
		}
	})
	t.Run("MaxDeliveries 0", func(t *testing.T) {
		srv := sharedRedis(t)
		c := dial(t, srv)
		stream := key(t, "s")
		id := publishN(t, c, stream, 1)[0]
		var seen attempts
		h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
			seen.add(m)
			if m.Deliveries < 4 {
				return errors.New("not yet")
			}
			return nil
		})
		cons, err := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"),
			redstream.RetryBackoff(time.Millisecond, time.Millisecond), redstream.MaxDeliveries(0))
		if err != nil {
			t.Fatal(err)
		}
		runConsumer(t, cons)
		waitFor(t, 30*time.Second, "the entry handled", func() bool { return cons.Stats().Handled == 1 })
		for _, a := range seen.of(id) {
			if a.last {
				t.Fatalf("delivery %d flagged as the last attempt with MaxDeliveries 0", a.deliveries)
			}
		}
	})
}

// In a batch, RetryAfter and LastAttempt work per entry: the entry that
// asked comes back after its delay, flagged as its last attempt, while an
// entry failed plainly waits for the (long) backoff and the rest are
// acknowledged.
func TestBatchRetryAfterPerEntry(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	soon, later := ids[2], ids[5]
	const after = 300 * time.Millisecond
	var seen attempts
	h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
		var failed redstream.MessageErrors
		for _, m := range msgs {
			seen.add(m)
			switch {
			case m.ID == soon && m.Deliveries == 1:
				failed.Fail(m, redstream.RetryAfter(errors.New("busy"), after))
			case m.ID == later:
				failed.Fail(m, errors.New("plain failure"))
			}
		}
		return failed.Err()
	})
	cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"),
		redstream.RetryBackoff(time.Hour, time.Hour), redstream.MaxDeliveries(2))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, cons)
	waitFor(t, 30*time.Second, "all but the plain failure acknowledged", func() bool { return cons.Stats().Handled == 9 })
	got := seen.of(soon)
	if len(got) != 2 {
		t.Fatalf("entry that asked for a retry handled %d times, want 2", len(got))
	}
	if gap := got[1].at.Sub(got[0].at); gap < after {
		t.Fatalf("retried %v after the failure, before the %v asked for", gap, after)
	}
	if got[0].last || !got[1].last {
		t.Fatalf("LastAttempt on deliveries 1, 2 = %v, %v; want false, true (MaxDeliveries 2)", got[0].last, got[1].last)
	}
	if n := len(seen.of(later)); n != 1 {
		t.Fatalf("entry failed plainly handled %d times, want 1 (its backoff is an hour)", n)
	}
	for _, id := range ids {
		if a := seen.of(id); len(a) > 0 && a[0].last {
			t.Fatalf("entry %s flagged as the last attempt on its first delivery of two", id)
		}
	}
}

// A topic consumer waits the RetryAfter delay in place: the key's later
// events wait behind the failed one and keep their order.
func TestTopicRetryAfterKeepsKeyOrder(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.KeyedEntry
	for s := range 5 {
		for _, k := range []string{"slow", "other"} {
			batch = append(batch, redstream.KeyedEntry{Key: k, Fields: redstream.Fields("seq", strconv.Itoa(s))})
		}
	}
	if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
		t.Fatal(err)
	}
	const after = 400 * time.Millisecond
	var mu sync.Mutex
	order := map[string][]string{}
	var failedAt, retriedAt time.Time
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		k, s := m.Value(redstream.KeyField), m.Value("seq")
		if k == "slow" && s == "1" {
			if failedAt.IsZero() {
				failedAt = time.Now()
				return redstream.RetryAfter(errors.New("busy"), after)
			}
			retriedAt = time.Now()
		}
		order[k] = append(order[k], s)
		return nil
	})
	tc, err := redstream.NewTopicConsumer(c, top, "g", h, redstream.RetryBackoff(time.Hour, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	waitFor(t, 30*time.Second, "every event handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["slow"]) == 5 && len(order["other"]) == 5
	})
	tc.Shutdown(ctxT(t, 5*time.Second))
	<-done
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order["slow"]) != "[0 1 2 3 4]" || fmt.Sprint(order["other"]) != "[0 1 2 3 4]" {
		t.Fatalf("order slow %v other %v, want each [0 1 2 3 4]", order["slow"], order["other"])
	}
	if gap := retriedAt.Sub(failedAt); gap < after {
		t.Fatalf("retried %v after the failure, before the %v asked for", gap, after)
	}
}
