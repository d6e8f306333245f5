package redstream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// PanicError is the error a handler's panic is turned into. The consumer's
// log line for the failure carries the stack under the key "stack".
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error describes the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("redstream: handler panicked: %v", e.Value) }

// failAttrs returns the log attributes of a handler's failure: the error,
// and for a panic the stack it happened on, which the error's text leaves
// out.
func failAttrs(err error) []any {
	var pe *PanicError
	var logged stackLogged
	if errors.As(err, &pe) && len(pe.Stack) > 0 && !errors.As(err, &logged) {
		return []any{"err", err, "stack", string(pe.Stack)}
	}
	return []any{"err", err}
}

// stackLogged is a batch's panic as each of its entries fails with it:
// the batch's own log line carried the stack, so the entries' do not.
type stackLogged struct{ error }

func (e stackLogged) Unwrap() error { return e.error }

// handlerCall is the one way both consumer kinds call user code: panics
// become a PanicError with the stack, the call is timed and counted in
// metrics, and a failure is given its outcome (retry or dead letter).
type handlerCall struct {
	group         string
	metrics       Metrics
	maxDeliveries int
	// untimed skips reading the clock around each call: with NopMetrics
	// nobody sees the time, and two clock reads an entry are a
	// measurable part of a no-op handler's cost.
	untimed bool
	// tracer wraps each call when the hooks implement HandleTracer; nil
	// otherwise, and then tracing costs one nil check a call.
	tracer HandleTracer
}

func newHandlerCall(group string, metrics Metrics, maxDeliveries int) handlerCall {
	_, nop := metrics.(NopMetrics)
	_, tracer := tracersOf(metrics)
	return handlerCall{group: group, metrics: metrics, maxDeliveries: maxDeliveries, untimed: nop, tracer: tracer}
}

// trace starts tracing a call of msgs (the tracer must be set); topic and
// part are a topic consumer's.
func (hc *handlerCall) trace(ctx context.Context, msgs []*Message, batch bool, topic string, part int) (context.Context, HandleSpan) {
	return hc.tracer.TraceHandle(ctx, &HandleCall{Group: hc.group, Topic: topic, Partition: part, Messages: msgs, Batch: batch})
}

// traceOne is trace of a Handler's call of m: the call and its slice of
// one message are one allocation, not two, on every traced message.
func (hc *handlerCall) traceOne(ctx context.Context, m *Message, topic string, part int) (context.Context, HandleSpan) {
	c := &oneCall{HandleCall: HandleCall{Group: hc.group, Topic: topic, Partition: part}}
	c.msgs[0] = m
	c.Messages = c.msgs[:]
	return hc.tracer.TraceHandle(ctx, &c.HandleCall)
}

// oneCall is a HandleCall of one message with the array its Messages
// slices.
type oneCall struct {
	HandleCall
	msgs [1]*Message
}

// one calls h for m and returns how long it took and its error. Metrics
// see it as running meanwhile.
func (hc *handlerCall) one(ctx context.Context, h Handler, m *Message) (took time.Duration, err error) {
	m.MaxDeliveries = hc.maxDeliveries
	if hc.untimed {
		defer func() {
			if v := recover(); v != nil {
				err = &PanicError{Value: v, Stack: debug.Stack()}
			}
		}()
		return 0, h.Handle(ctx, m)
	}
	hc.metrics.InFlight(m.Stream, hc.group, 1)
	began := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
		took = time.Since(began)
		hc.metrics.InFlight(m.Stream, hc.group, -1)
	}()
	return 0, h.Handle(ctx, m)
}

// batch calls h for msgs, which are all of one stream.
func (hc *handlerCall) batch(ctx context.Context, h BatchHandler, msgs []*Message) (took time.Duration, err error) {
	stream := msgs[0].Stream
	for _, m := range msgs {
		m.MaxDeliveries = hc.maxDeliveries
	}
	hc.metrics.InFlight(stream, hc.group, len(msgs))
	began := time.Now()
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
		took = time.Since(began)
		hc.metrics.InFlight(stream, hc.group, -len(msgs))
	}()
	return 0, h.HandleBatch(ctx, msgs)
}

// outcome says what becomes of m after its handler returned err (nil is
// OutcomeAck): a permanent or decode failure, or a failure on the last
// allowed delivery, goes to the dead-letter stream; any other is retried.
func (hc *handlerCall) outcome(m *Message, err error) Outcome {
	switch {
	case err == nil:
		return OutcomeAck
	case errors.Is(err, ErrPermanent), errors.Is(err, ErrDecode):
		return OutcomeDeadLetter
	case hc.maxDeliveries > 0 && m.Deliveries >= hc.maxDeliveries:
		return OutcomeDeadLetter
	}
	return OutcomeRetry
}

// overDelivered reports an entry delivered more often than MaxDeliveries
// without an outcome: its earlier consumers died or stalled while handling
// it, so it is not tried again. The error says so in the dead letter.
func (hc *handlerCall) overDelivered(m *Message) error {
	if max := hc.maxDeliveries; max > 0 && m.Deliveries > max {
		return fmt.Errorf("delivered %d times, more than MaxDeliveries %d, without being handled (consumers died or stalled on it)", m.Deliveries, max)
	}
	return nil
}
