package redstreamotel_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
)

// TestTracePublishLeavesTheCallersHeadersAlone: the tracer gives each
// entry new headers, the caller's and its traceparent, without writing
// into the caller's slice (which has room to spare), and a batch's
// entries' headers stay apart: appending to one never changes another's.
func TestTracePublishLeavesTheCallersHeadersAlone(t *testing.T) {
	// A propagator that writes all it declares fills the room reserved
	// for it.
	tr := newTracing(t, redstreamotel.WithPropagator(traceparentOnly{}))
	for _, n := range []int{1, 4} {
		t.Run(fmt.Sprint(n, " entries"), func(t *testing.T) {
			callers := make([]redstream.Field, 1, 8)
			callers[0] = redstream.Field{Name: "origin", Value: "test"}
			call := &redstream.PublishCall{Entries: make([]redstream.Entry, n)}
			for i := range call.Entries {
				call.Entries[i] = redstream.Entry{Stream: "s", Fields: redstream.Fields("i", fmt.Sprint(i)), Headers: callers}
			}
			done := tr.hooks.TracePublish(context.Background(), call)
			if spare := callers[:cap(callers)][1]; spare != (redstream.Field{}) {
				t.Fatalf("the tracer wrote %v into the caller's headers", spare)
			}
			before := make([][]redstream.Field, n)
			for i, e := range call.Entries {
				if len(e.Headers) != 2 || e.Headers[0] != callers[0] || e.Headers[1].Name != "traceparent" {
					t.Fatalf("entry %d headers %v, want the caller's and a traceparent", i, e.Headers)
				}
				before[i] = append([]redstream.Field(nil), e.Headers...)
			}
			for i := range call.Entries { // as a later tracer or the Publisher might
				_ = append(call.Entries[i].Headers, redstream.Field{Name: "later", Value: fmt.Sprint(i)})
			}
			for i, e := range call.Entries {
				if fmt.Sprint(e.Headers) != fmt.Sprint(before[i]) {
					t.Errorf("appending to another entry's headers changed entry %d's from %v to %v", i, before[i], e.Headers)
				}
			}
			done(make([]string, n), nil)
		})
	}
}

// TestPropagatorWritingUndeclaredFieldsInABatch: a propagator may write
// more fields than its Fields declares (the room the tracer reserves for
// a batch's headers); every entry still gets all of them and its own
// trace context, the caller's headers are not written to, and nothing
// panics.
func TestPropagatorWritingUndeclaredFieldsInABatch(t *testing.T) {
	tr := newTracing(t, redstreamotel.WithPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, undeclared{})))
	callers := make([]redstream.Field, 1, 8)
	callers[0] = redstream.Field{Name: "origin", Value: "test"}
	const n = 5
	call := &redstream.PublishCall{Entries: make([]redstream.Entry, n)}
	for i := range call.Entries {
		call.Entries[i] = redstream.Entry{Stream: "s", Fields: redstream.Fields("i", fmt.Sprint(i))}
		if i%2 == 0 {
			call.Entries[i].Headers = callers
		}
	}
	done := tr.hooks.TracePublish(context.Background(), call)
	if spare := callers[:cap(callers)][1]; spare != (redstream.Field{}) {
		t.Fatalf("the tracer wrote %v into the caller's headers", spare)
	}
	seen := map[trace.SpanID]int{}
	for i, e := range call.Entries {
		want := []string{"traceparent", "x-one", "x-two"}
		if i%2 == 0 {
			want = append([]string{"origin"}, want...)
		}
		var names []string
		for _, h := range e.Headers {
			names = append(names, h.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("entry %d headers %v, want %v", i, e.Headers, want)
		}
		sc := traceparentOf(e.Headers)
		if !sc.IsValid() {
			t.Errorf("entry %d carries no valid traceparent: %v", i, e.Headers)
			continue
		}
		if j, dup := seen[sc.SpanID()]; dup {
			t.Errorf("entries %d and %d carry the same span %s", j, i, sc.SpanID())
		}
		seen[sc.SpanID()] = i
	}
	done(make([]string, n), nil)
}

// traceparentOnly is W3C Trace Context declaring only the field it
// writes when there is no trace state.
type traceparentOnly struct{ propagation.TraceContext }

func (traceparentOnly) Fields() []string { return []string{"traceparent"} }

// undeclared is a propagator that writes two fields but declares none.
type undeclared struct{}

func (undeclared) Inject(_ context.Context, c propagation.TextMapCarrier) {
	c.Set("x-one", "1")
	c.Set("x-two", "2")
}
func (undeclared) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (undeclared) Fields() []string { return nil }
