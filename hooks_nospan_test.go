package redstream_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// spanless is a HandleTracer that returns no HandleSpan, which the
// interface allows.
type spanless struct {
	redstream.NopMetrics
	calls atomic.Int64
}

func (s *spanless) TraceHandle(ctx context.Context, _ *redstream.HandleCall) (context.Context, redstream.HandleSpan) {
	s.calls.Add(1)
	return ctx, nil
}

// TestBatchHandlerRunsWhenTracerReturnsNoSpan: a HandleTracer may return
// a nil HandleSpan; a batch consumer must then handle and acknowledge its
// entries as without a tracer, not crash ending a span it was not given.
func TestBatchHandlerRunsWhenTracerReturnsNoSpan(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 5)
	tr := &spanless{}
	var handled atomic.Int64
	cons, err := redstream.NewBatchConsumer(c, stream, "g", redstream.BatchHandlerFunc(func(_ context.Context, msgs []*redstream.Message) error {
		handled.Add(int64(len(msgs)))
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(tr))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "5 entries handled", func() bool { return handled.Load() == 5 })
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if tr.calls.Load() == 0 {
		t.Fatal("the tracer was never called")
	}
	if n := pendingCount(t, c, stream, "g"); n != 0 {
		t.Fatalf("%d entries left pending", n)
	}
}
