package redstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redstream-go/redstream/internal/backoff"
)

// Handler handles one stream entry. Returning nil acknowledges the entry.
// Returning an error, or panicking, leaves it pending in the group and it
// is handled again after a backoff (RetryBackoff), or after the delay the
// handler chose with RetryAfter, keeping its ID, until MaxDeliveries is
// reached (Message.LastAttempt says when that is); then it moves to the
// dead-letter stream.
// Returning an error that matches ErrPermanent (see Permanent) or
// ErrDecode moves it there at once. Handlers run concurrently (see
// Concurrency) and must be safe for that; because delivery is
// at-least-once, they should be idempotent.
type Handler interface {
	Handle(ctx context.Context, m *Message) error
}

// HandlerFunc adapts an ordinary function to the Handler interface.
type HandlerFunc func(ctx context.Context, m *Message) error

// Handle calls f(ctx, m).
func (f HandlerFunc) Handle(ctx context.Context, m *Message) error { return f(ctx, m) }

// Middleware wraps a Handler with behaviour of its own, like net/http
// middleware.
type Middleware func(Handler) Handler

// Chain wraps h in the middlewares, the first given being the outermost.
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// RetryAfterError is a handler's failure that asks for its entry to be
// handled again after Delay instead of after the consumer's backoff
// (RetryBackoff). RetryAfter makes one; the consumer finds it with
// errors.As, so it may be wrapped.
type RetryAfterError struct {
	Err   error         // why the handler failed
	Delay time.Duration // how long to wait before the entry is handled again
}

// Error returns the failure's text and the requested delay.
func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %v)", e.Err, e.Delay)
}

// Unwrap returns the failure, so errors.Is sees through the request.
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter returns err as a *RetryAfterError: the entry fails as with
// err, and is handled again after d instead of the consumer's backoff
// (d below zero counts as zero). The retry is a delivery like any other:
// it counts against MaxDeliveries, and a failure on the last attempt (see
// Message.LastAttempt) goes to the dead-letter stream whatever d says;
// an err matching ErrPermanent goes there at once. A nil err stands for a
// failure with no reason given. A batch handler can return it for the
// whole batch, or for single entries through MessageErrors.Fail. A topic
// consumer waits d in place, holding only the later events of the key.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		err = errors.New("redstream: retry requested")
	}
	return &RetryAfterError{Err: err, Delay: max(d, 0)}
}

// retryDelay is how long a failed entry waits before it is handled again
// after delivery number deliveries failed with err: what the handler asked
// for with RetryAfter, or else policy's backoff.
func retryDelay(err error, policy backoff.Policy, deliveries int) time.Duration {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Delay
	}
	return policy.Delay(deliveries - 1)
}
