package redstream

import "context"

// Handler handles one stream entry. Returning nil acknowledges the entry.
// Returning an error, or panicking, leaves it pending in the group and it
// is handled again after a backoff (RetryBackoff), keeping its ID, until
// MaxDeliveries is reached; then it moves to the dead-letter stream.
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
