package redstream

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Catches: a second Run that starts a second set of loops instead of
// returning ErrRunning, and a Run after the first ended that starts again
// instead of returning ErrClosed (a Consumer runs once).
func TestLifecycleRunsOnce(t *testing.T) {
	l := newLifecycle()
	end, err := l.begin(context.Background())
	if err != nil {
		t.Fatalf("first begin: %v", err)
	}
	if _, err := l.begin(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second begin while running: %v, want ErrRunning", err)
	}
	end()
	if _, err := l.begin(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("begin after Run ended: %v, want ErrClosed", err)
	}
	// Run's end closes everything: done, the hard context, handlers' context.
	if !isClosed(l.done) || l.hard.Err() == nil || l.handlers.Err() == nil {
		t.Fatalf("after end: done closed %v, hard err %v, handlers err %v; want all ended",
			isClosed(l.done), l.hard.Err(), l.handlers.Err())
	}
}

// Catches: Shutdown or Close before Run that waits for a Run that never
// comes (hangs on done), or that lets a later Run start (it must return
// ErrClosed), or that leaves the reads' context alive.
func TestLifecycleStopBeforeRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(l *lifecycle) error
	}{
		{"Shutdown", func(l *lifecycle) error { return l.shutdown(context.Background()) }},
		{"Close", func(l *lifecycle) error { l.close(); return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLifecycle()
			returned := make(chan error, 1)
			go func() { returned <- tc.stop(&l) }()
			select {
			case err := <-returned:
				if err != nil {
					t.Fatalf("%s before Run: %v", tc.name, err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s before Run did not return: it waits for a Run that never started", tc.name)
			}
			if _, err := l.begin(context.Background()); !errors.Is(err, ErrClosed) {
				t.Fatalf("begin after %s: %v, want ErrClosed", tc.name, err)
			}
			if !l.isStopping() || l.readCtx.Err() == nil || l.hard.Err() == nil {
				t.Fatalf("after %s before Run: stopping %v, readCtx err %v, hard err %v; want all ended",
					tc.name, l.isStopping(), l.readCtx.Err(), l.hard.Err())
			}
			// Idempotent, and still not waiting for a Run.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := l.shutdown(ctx); err != nil {
				t.Fatalf("second shutdown: %v", err)
			}
			l.close()
		})
	}
}

// Catches: a Shutdown that returns before Run has ended (before in-flight
// handlers finished and their acks were sent), or one that cancels the
// handlers' context (a graceful stop must let them finish), or that does
// not stop reading.
func TestLifecycleShutdownStopsReadingAndWaitsForRun(t *testing.T) {
	l := newLifecycle()
	end, err := l.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan error, 1)
	go func() { returned <- l.shutdown(context.Background()) }()
	select {
	case <-l.stopping:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not close stopping")
	}
	// stopping closes first, then the reads' context ends.
	select {
	case <-l.readCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown left the reads' context alive: a blocked read is not interrupted")
	}
	// Run has not returned yet: Shutdown must still wait, and handlers run on.
	select {
	case err := <-returned:
		t.Fatalf("Shutdown returned (%v) before Run ended", err)
	case <-time.After(50 * time.Millisecond):
	}
	if l.handlers.Err() != nil || l.hard.Err() != nil {
		t.Fatalf("graceful Shutdown canceled handlers (%v) or hard (%v)", l.handlers.Err(), l.hard.Err())
	}
	end()
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Shutdown after Run ended: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after Run ended")
	}
}

// Catches: a Shutdown whose ctx ends first that keeps waiting, or that
// returns without closing (running handlers never learn to give up), or
// that reports success.
func TestLifecycleShutdownCtxExpiryCloses(t *testing.T) {
	l := newLifecycle()
	end, err := l.begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown with an ended ctx: %v, want context.Canceled", err)
	}
	if l.hard.Err() == nil {
		t.Fatal("Shutdown's ctx ended but the consumer was not closed (hard context alive)")
	}
	select {
	case <-l.handlers.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("handlers' context not canceled after Shutdown's ctx expired")
	}
}

// Catches: ending Run's ctx that closes (cancels handlers mid-entry)
// instead of stopping gracefully, handlers' context derived from Run's
// ctx with its cancellation, or an ended ctx that does not stop reading.
// Also that handlers see Run's ctx values.
func TestLifecycleRunCtxEndStopsButHandlersLiveUntilClose(t *testing.T) {
	type key struct{}
	l := newLifecycle()
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	end, err := l.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	if got := l.handlers.Value(key{}); got != "v" {
		t.Fatalf("handlers' context lost Run ctx's value: %v", got)
	}
	cancel()
	select {
	case <-l.stopping:
	case <-time.After(10 * time.Second):
		t.Fatal("ending Run's ctx did not stop reading")
	}
	select {
	case <-l.readCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("ending Run's ctx left the reads' context alive")
	}
	if l.handlers.Err() != nil || l.hard.Err() != nil {
		t.Fatalf("ending Run's ctx canceled handlers (%v) or hard (%v): it must be a graceful stop",
			l.handlers.Err(), l.hard.Err())
	}
	l.close()
	select {
	case <-l.handlers.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not cancel handlers' context")
	}
	if l.hard.Err() == nil {
		t.Fatal("Close left hard alive")
	}
}

// Catches: sleep (used for backoff in read loops) that a stop or Close does
// not cut short, so Shutdown waits out a backoff; and wait (used by the
// acker's retries) that a stop cuts short — the acker must keep trying
// after a graceful stop, and only Close ends it.
func TestLifecycleSleepAndWait(t *testing.T) {
	t.Run("sleep runs its course", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLifecycle()
			start := time.Now()
			if !l.sleep(time.Minute) {
				t.Fatal("sleep reported an interruption without a stop")
			}
			if got := time.Since(start); got != time.Minute {
				t.Fatalf("sleep took %v, want 1m", got)
			}
		})
	})
	for _, tc := range []struct {
		name      string
		interrupt func(l *lifecycle)
	}{
		{"sleep ends on stop", (*lifecycle).stop},
		{"sleep ends on close", (*lifecycle).close},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newLifecycle()
				start := time.Now()
				time.AfterFunc(time.Second, func() { tc.interrupt(&l) })
				if l.sleep(time.Hour) {
					t.Fatal("sleep reported the whole wait elapsed")
				}
				if got := time.Since(start); got != time.Second {
					t.Fatalf("sleep returned after %v, want at the interruption (1s)", got)
				}
			})
		})
	}
	t.Run("wait is not ended by stop", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLifecycle()
			l.stop()
			start := time.Now()
			if !l.wait(time.Minute) {
				t.Fatal("wait was cut short by a stop")
			}
			if got := time.Since(start); got != time.Minute {
				t.Fatalf("wait took %v, want 1m", got)
			}
		})
	})
	t.Run("wait ends on close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := newLifecycle()
			start := time.Now()
			time.AfterFunc(time.Second, l.close)
			if l.wait(time.Hour) {
				t.Fatal("wait reported the whole wait elapsed after Close")
			}
			if got := time.Since(start); got != time.Second {
				t.Fatalf("wait returned after %v, want at Close (1s)", got)
			}
		})
	})
}
