package redstream

import (
	"context"
	"sync"
	"time"
)

// lifecycle is the run state both consumer kinds share, shaped like
// http.Server's: Run once, Shutdown to stop gracefully, Close to stop at
// once, each safe to call more than once and before Run.
type lifecycle struct {
	mu       sync.Mutex
	started  bool
	finished bool

	stopOnce sync.Once
	stopping chan struct{}      // closed: read no more
	readCtx  context.Context    // canceled with stopping: interrupts reads
	readStop context.CancelFunc //
	hard     context.Context    // canceled by Close: abandon everything
	hardStop context.CancelFunc //
	done     chan struct{}      // closed when Run returns

	// handlers is the context handlers run with: Run's context without
	// its cancellation (ending ctx is a graceful stop), canceled by Close.
	handlers context.Context
}

func newLifecycle() lifecycle {
	hard, hardStop := context.WithCancel(context.Background())
	readCtx, readStop := context.WithCancel(hard)
	return lifecycle{
		stopping: make(chan struct{}),
		readCtx:  readCtx,
		readStop: readStop,
		hard:     hard,
		hardStop: hardStop,
		done:     make(chan struct{}),
	}
}

// begin marks the start of Run with ctx. It returns ErrClosed after a
// Shutdown or Close, ErrRunning on a second call, and otherwise a function
// that Run defers to mark its end.
func (l *lifecycle) begin(ctx context.Context) (end func(), err error) {
	l.mu.Lock()
	switch {
	case l.finished:
		l.mu.Unlock()
		return nil, ErrClosed
	case l.started:
		l.mu.Unlock()
		return nil, ErrRunning
	}
	l.started = true
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	l.handlers = hctx
	l.mu.Unlock()
	stopHandlers := context.AfterFunc(l.hard, hcancel)
	stopWatch := context.AfterFunc(ctx, l.stop) // ending ctx is a graceful stop
	return func() {
		stopWatch()
		stopHandlers()
		l.mu.Lock()
		l.finished = true
		l.mu.Unlock()
		hcancel()
		l.hardStop()
		close(l.done)
	}, nil
}

// shutdown stops reading and waits until Run has returned; if ctx ends
// first it closes as close does and returns ctx's error.
func (l *lifecycle) shutdown(ctx context.Context) error {
	l.stop()
	l.mu.Lock()
	started := l.started
	if !started {
		l.finished = true
	}
	l.mu.Unlock()
	if !started {
		l.hardStop()
		return nil
	}
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		l.close()
		return ctx.Err()
	}
}

// close stops at once: reads are abandoned and handlers' context is
// canceled. It does not wait.
func (l *lifecycle) close() {
	l.stop()
	l.hardStop()
	l.mu.Lock()
	if !l.started {
		l.finished = true
	}
	l.mu.Unlock()
}

func (l *lifecycle) stop() {
	l.stopOnce.Do(func() {
		close(l.stopping)
		l.readStop()
	})
}

func (l *lifecycle) isStopping() bool {
	select {
	case <-l.stopping:
		return true
	default:
		return false
	}
}

// sleep waits d, or until stopped or closed; it reports whether the whole
// wait elapsed.
func (l *lifecycle) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.stopping:
		return false
	case <-l.hard.Done():
		return false
	}
}

// wait waits d unless closed first (a stop does not end it); it reports
// whether the whole wait elapsed.
func (l *lifecycle) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.hard.Done():
		return false
	}
}
