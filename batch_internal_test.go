package redstream

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Catches: failureOf that fails every entry of a batch when the handler
// named only some (MessageErrors not found through wrapping), that fails
// none when the handler returned a plain error, that fails an entry the
// MessageErrors did not name, or that lets the unnamed entries succeed
// when the MessageErrors is joined with another error; and
// MessageErrors.Err returning a non-nil error for no failures (a whole
// batch retried for nothing).
func TestBatchFailureOf(t *testing.T) {
	a := &Message{ID: "1-0", Stream: "s"}
	b := &Message{ID: "2-0", Stream: "s"}
	c := &Message{ID: "3-0", Stream: "s"}

	if failureOf(nil, a) != nil {
		t.Fatal("failureOf(nil) is not nil: a successful batch would fail")
	}

	plain := errors.New("down")
	for _, m := range []*Message{a, b, c} {
		if got := failureOf(plain, m); got != plain {
			t.Fatalf("failureOf(plain error, %s) = %v, want the error itself (every entry fails)", m.ID, got)
		}
	}

	var fails MessageErrors
	if fails.Err() != nil {
		t.Fatal("zero MessageErrors.Err() is not nil")
	}
	if (*MessageErrors)(nil).Err() != nil {
		t.Fatal("nil *MessageErrors.Err() is not nil")
	}
	bad := Permanent(errors.New("bad field"))
	fails.Fail(a, bad)
	fails.Fail(c, nil) // no reason: still a failure
	err := fmt.Errorf("handler: %w", fails.Err())

	if got := failureOf(err, a); got != bad || !errors.Is(got, ErrPermanent) {
		t.Fatalf("failureOf(a) = %v, want its own reason (matching ErrPermanent)", got)
	}
	if got := failureOf(err, b); got != nil {
		t.Fatalf("failureOf(b) = %v, want nil: b was not named, it succeeded", got)
	}
	if got := failureOf(err, c); got == nil {
		t.Fatal("failureOf(c) = nil: Fail with a nil error must still fail the entry")
	}
	// Joined with another error, the MessageErrors fails the rest too:
	// the other error is about the whole batch.
	down := errors.New("sink down")
	both := errors.Join(fails.Err(), down)
	if got := failureOf(both, a); got != bad {
		t.Fatalf("failureOf(a) in a joined error = %v, want its own reason", got)
	}
	if got := failureOf(both, b); got == nil || !errors.Is(got, down) {
		t.Fatalf("failureOf(b) in a joined error = %v, want the whole error (b failed with the batch)", got)
	}
	if msg := fails.Error(); !strings.Contains(msg, "2 entries") {
		t.Fatalf("MessageErrors.Error() = %q, want the count of failed entries", msg)
	}
}
