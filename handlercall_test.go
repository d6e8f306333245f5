package redstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// countingMetrics records InFlight changes: the running total per stream
// and every delta in order.
type countingMetrics struct {
	NopMetrics
	mu     sync.Mutex
	now    map[string]int // stream/group -> running handlers
	deltas []int
}

func (m *countingMetrics) InFlight(stream, group string, delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.now == nil {
		m.now = map[string]int{}
	}
	m.now[stream+"/"+group] += delta
	m.deltas = append(m.deltas, delta)
}

func (m *countingMetrics) running(stream, group string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now[stream+"/"+group]
}

func (m *countingMetrics) seen() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.deltas...)
}

// Catches: a handler panic that escapes (crashing the worker and the
// process), one turned into an error without the stack (or with the stack
// of the recovering code rather than of the panic), and an InFlight gauge
// left at +1 after a panic.
func TestHandlerCallPanicBecomesPanicErrorWithStack(t *testing.T) {
	metrics := &countingMetrics{}
	hc := handlerCall{group: "g", metrics: metrics, maxDeliveries: 5}
	m := &Message{ID: "1-0", Stream: "s", Deliveries: 1}
	var during int
	_, err := hc.one(context.Background(), HandlerFunc(func(context.Context, *Message) error {
		during = metrics.running("s", "g")
		panicInHandler()
		return nil
	}), m)
	var pe *PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want a *PanicError", err, err)
	}
	if pe.Value != "boom" {
		t.Fatalf("PanicError.Value = %v, want boom", pe.Value)
	}
	if len(pe.Stack) == 0 {
		t.Fatal("PanicError.Stack is empty")
	}
	if !strings.Contains(string(pe.Stack), "panicInHandler") {
		t.Fatalf("PanicError.Stack does not show where the handler panicked:\n%s", pe.Stack)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("PanicError.Error() = %q, want the panic value in it", err.Error())
	}
	if during != 1 {
		t.Fatalf("InFlight during the call = %d, want 1", during)
	}
	if got := metrics.running("s", "g"); got != 0 {
		t.Fatalf("InFlight after a panicking call = %d, want 0", got)
	}
	if got := fmt.Sprint(metrics.seen()); got != "[1 -1]" {
		t.Fatalf("InFlight deltas = %s, want [1 -1]", got)
	}
	// The outcome of a panic is a retry, like any error.
	if o := hc.outcome(m, err); o != OutcomeRetry {
		t.Fatalf("outcome of a panic on delivery 1 = %v, want retry", o)
	}
}

//go:noinline
func panicInHandler() { panic("boom") }

// Catches: one() that loses the handler's error (returns nil: an entry
// acked although it failed), wraps it so errors.Is no longer matches, or
// reports no duration.
func TestHandlerCallReturnsErrorAndDuration(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		metrics := &countingMetrics{}
		hc := handlerCall{group: "g", metrics: metrics}
		failure := errors.New("failed")
		took, err := hc.one(context.Background(), HandlerFunc(func(context.Context, *Message) error {
			time.Sleep(10 * time.Millisecond)
			return failure
		}), &Message{ID: "1-0", Stream: "s"})
		if err != failure {
			t.Fatalf("err = %v, want the handler's own error", err)
		}
		if took != 10*time.Millisecond {
			t.Fatalf("took = %v, want 10ms", took)
		}
		if got := fmt.Sprint(metrics.seen()); got != "[1 -1]" {
			t.Fatalf("InFlight deltas = %s, want [1 -1]", got)
		}
	})
}

// Catches: batch() that counts one in flight per batch instead of per
// entry, leaves the gauge up after a panic, or lets a panic escape.
func TestHandlerCallBatchCountsEntriesAndRecovers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		metrics := &countingMetrics{}
		hc := handlerCall{group: "g", metrics: metrics}
		msgs := []*Message{{ID: "1-0", Stream: "s"}, {ID: "2-0", Stream: "s"}, {ID: "3-0", Stream: "s"}}
		var during int
		took, err := hc.batch(context.Background(), BatchHandlerFunc(func(_ context.Context, got []*Message) error {
			during = metrics.running("s", "g")
			if len(got) != 3 {
				t.Errorf("handler got %d entries, want 3", len(got))
			}
			time.Sleep(time.Second)
			panic(errors.New("batch boom"))
		}), msgs)
		var pe *PanicError
		if !errors.As(err, &pe) || len(pe.Stack) == 0 {
			t.Fatalf("err = %v, want a *PanicError with a stack", err)
		}
		if during != 3 {
			t.Fatalf("InFlight during a batch of 3 = %d, want 3", during)
		}
		if got := fmt.Sprint(metrics.seen()); got != "[3 -3]" {
			t.Fatalf("InFlight deltas = %s, want [3 -3]", got)
		}
		if took != time.Second {
			t.Fatalf("took = %v, want 1s", took)
		}
	})
}

// Catches: a wrong outcome: a permanent or decode failure retried (a
// poison entry retried MaxDeliveries times), the last allowed delivery
// retried once more (or an earlier one dead-lettered), MaxDeliveries 0
// dead-lettering instead of retrying forever, or success not acked.
func TestHandlerCallOutcome(t *testing.T) {
	failure := errors.New("failed")
	for _, tc := range []struct {
		name       string
		max        int
		deliveries int
		err        error
		want       Outcome
	}{
		{"success", 5, 1, nil, OutcomeAck},
		{"success on the last delivery", 5, 5, nil, OutcomeAck},
		{"success after too many", 5, 9, nil, OutcomeAck},
		{"failure, first delivery", 5, 1, failure, OutcomeRetry},
		{"failure, one before the last", 5, 4, failure, OutcomeRetry},
		{"failure, last delivery", 5, 5, failure, OutcomeDeadLetter},
		{"failure, beyond the last", 5, 6, failure, OutcomeDeadLetter},
		{"wrapped failure, last delivery", 5, 5, fmt.Errorf("x: %w", failure), OutcomeDeadLetter},
		{"permanent, first delivery", 5, 1, Permanent(failure), OutcomeDeadLetter},
		{"wrapped ErrPermanent", 5, 1, fmt.Errorf("x: %w", ErrPermanent), OutcomeDeadLetter},
		{"decode, first delivery", 5, 1, fmt.Errorf("field a: %w", ErrDecode), OutcomeDeadLetter},
		{"panic, first delivery", 5, 1, &PanicError{Value: 1}, OutcomeRetry},
		{"MaxDeliveries 0 retries forever", 0, 1000, failure, OutcomeRetry},
		{"MaxDeliveries 0, permanent", 0, 1, Permanent(failure), OutcomeDeadLetter},
		{"MaxDeliveries 1", 1, 1, failure, OutcomeDeadLetter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := handlerCall{maxDeliveries: tc.max}
			m := &Message{ID: "1-0", Stream: "s", Deliveries: tc.deliveries}
			if got := hc.outcome(m, tc.err); got != tc.want {
				t.Fatalf("outcome(deliveries %d, max %d, %v) = %v, want %v", tc.deliveries, tc.max, tc.err, got, tc.want)
			}
		})
	}
}

// Catches: overDelivered that fires on the last allowed delivery (that
// one still gets its handler call), never fires (an entry that kills its
// consumers is handed out forever), or fires with MaxDeliveries 0.
func TestHandlerCallOverDelivered(t *testing.T) {
	for _, tc := range []struct {
		max, deliveries int
		over            bool
	}{
		{5, 1, false},
		{5, 5, false},
		{5, 6, true},
		{5, 100, true},
		{1, 2, true},
		{0, 1000, false},
	} {
		hc := handlerCall{maxDeliveries: tc.max}
		err := hc.overDelivered(&Message{ID: "1-0", Stream: "s", Deliveries: tc.deliveries})
		if (err != nil) != tc.over {
			t.Errorf("overDelivered(deliveries %d, max %d) = %v, want over=%v", tc.deliveries, tc.max, err, tc.over)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprint(tc.deliveries)) {
			t.Errorf("overDelivered's error %q does not say how often the entry was delivered", err)
		}
	}
}
