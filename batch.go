package redstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// BatchHandler handles entries of one stream several at a time, in ID
// order. Returning nil acknowledges every entry of the batch. Returning a
// *MessageErrors (see MessageErrors.Fail) fails only the entries it names: each
// is retried or dead-lettered on its own, as a Handler's failure would be,
// with MaxDeliveries counted per entry, and the rest are acknowledged.
// Any other error, or a panic, fails every entry of the batch that way.
// Batches of one consumer run one at a time unless Concurrency says more.
type BatchHandler interface {
	HandleBatch(ctx context.Context, msgs []*Message) error
}

// BatchHandlerFunc adapts an ordinary function to the BatchHandler
// interface.
type BatchHandlerFunc func(ctx context.Context, msgs []*Message) error

// HandleBatch calls f(ctx, msgs).
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, msgs []*Message) error {
	return f(ctx, msgs)
}

// MessageErrors fails single entries of a batch. Its zero value fails none;
// Fail adds one, and Err returns the error to hand back from HandleBatch.
// It is matched with errors.As.
type MessageErrors struct {
	// Failed maps an entry's ID to why it failed. An error matching
	// ErrPermanent sends that entry to the dead-letter stream at once; a
	// *RetryAfterError (see RetryAfter) chooses that entry's retry delay.
	Failed map[string]error
}

// Fail records that m failed with err (a nil err counts as a failure with
// no reason given).
func (e *MessageErrors) Fail(m *Message, err error) {
	if e.Failed == nil {
		e.Failed = make(map[string]error)
	}
	if err == nil {
		err = errors.New("failed in its batch")
	}
	e.Failed[m.ID] = err
}

// Err returns e when it fails any entry, and nil otherwise, so that a
// handler can end with `return failures.Err()`.
func (e *MessageErrors) Err() error {
	if e == nil || len(e.Failed) == 0 {
		return nil
	}
	return e
}

// Error says how many entries failed, and the first reason.
func (e *MessageErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "redstream: %d entries of the batch failed", len(e.Failed))
	for id, err := range e.Failed {
		fmt.Fprintf(&b, " (%s: %v, ...)", id, err)
		break
	}
	return b.String()
}

// failureOf returns why m failed in a batch whose handler returned err, or
// nil when it succeeded. A *MessageErrors, possibly wrapped, fails only
// the entries it names; joined with other errors (errors.Join) it fails
// the rest of the batch with the whole error.
func failureOf(err error, m *Message) error {
	if err == nil {
		return nil
	}
	var me *MessageErrors
	if !errors.As(err, &me) {
		return err
	}
	if e, ok := me.Failed[m.ID]; ok {
		return e
	}
	if joined(err) {
		return err
	}
	return nil
}

// joined reports whether err, along its chain of single wraps, joins
// several errors.
func joined(err error) bool {
	for err != nil {
		if _, ok := err.(interface{ Unwrap() []error }); ok {
			return true
		}
		err = errors.Unwrap(err)
	}
	return false
}
