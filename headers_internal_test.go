package redstream

import (
	"context"
	"testing"
)

// Without tracing hooks, headers and hooks cost the hot path no
// allocation: splitting an entry's fields, joining an entry without
// headers, and a handler call under NopMetrics allocate nothing.
func TestNoAllocationsWithoutTracing(t *testing.T) {
	plain := Fields("whatHappened", "ticket received", "ticketID", "42")
	if n := testing.AllocsPerRun(100, func() { splitHeaders(plain) }); n != 0 {
		t.Errorf("splitting an entry without headers: %v allocations", n)
	}
	leading := Fields(HeaderPrefix+"traceparent", "tp", "f", "v")
	buf := make([]Field, len(leading))
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, leading) // the split strips the names in place
		splitHeaders(buf)
	}); n != 0 {
		t.Errorf("splitting an entry whose headers lead: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { joinHeaders(nil, plain) }); n != 0 {
		t.Errorf("joining an entry without headers: %v allocations", n)
	}
	hc := newHandlerCall("g", NopMetrics{}, 3)
	if hc.tracer != nil {
		t.Fatal("NopMetrics gave a tracer")
	}
	m := &Message{ID: "1-0", Stream: "s", Fields: plain, Deliveries: 1}
	h := HandlerFunc(func(context.Context, *Message) error { return nil })
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { hc.one(ctx, h, m) }); n != 0 {
		t.Errorf("a handler call: %v allocations", n)
	}
	var p Publisher
	p.tracer, _ = tracersOf(NopMetrics{})
	if p.tracer != nil {
		t.Fatal("NopMetrics gave a publish tracer")
	}
}

// splitHeaders strips the prefix from leading headers in place and
// gathers headers from anywhere else, keeping both orders.
func TestSplitHeaders(t *testing.T) {
	for _, tc := range []struct {
		in, headers, fields []Field
	}{
		{Fields("a", "1"), nil, Fields("a", "1")},
		{Fields(HeaderPrefix+"h", "x", "a", "1"), Fields("h", "x"), Fields("a", "1")},
		{Fields("a", "1", HeaderPrefix+"h", "x", "b", "2", HeaderPrefix+"i", "y"), Fields("h", "x", "i", "y"), Fields("a", "1", "b", "2")},
		{Fields(HeaderPrefix+"h", "x"), Fields("h", "x"), []Field{}},
		{Fields("redstream:hx", "1"), nil, Fields("redstream:hx", "1")},
	} {
		in := append([]Field(nil), tc.in...)
		h, f := splitHeaders(in)
		if len(h) != len(tc.headers) || len(f) != len(tc.fields) {
			t.Fatalf("split %v = %v, %v", tc.in, h, f)
		}
		for i := range h {
			if h[i] != tc.headers[i] {
				t.Fatalf("split %v: headers %v, want %v", tc.in, h, tc.headers)
			}
		}
		for i := range f {
			if f[i] != tc.fields[i] {
				t.Fatalf("split %v: fields %v, want %v", tc.in, f, tc.fields)
			}
		}
		if back := joinHeaders(h, f); len(tc.headers) > 0 && back[0].Name != HeaderPrefix+tc.headers[0].Name {
			t.Fatalf("join after split: %v", back)
		}
	}
}

// headerField names every header HeaderPrefix+name, and the three a
// tracer writes on every entry without building a string.
func TestHeaderFieldNames(t *testing.T) {
	for _, name := range []string{"traceparent", "tracestate", "baggage", "traceparentx", "x", ""} {
		if got := headerField(name); got != HeaderPrefix+name {
			t.Errorf("headerField(%q) = %q, want %q", name, got, HeaderPrefix+name)
		}
	}
	for _, name := range []string{"traceparent", "tracestate", "baggage"} {
		if n := testing.AllocsPerRun(100, func() { _ = headerField(name) }); n != 0 {
			t.Errorf("headerField(%q): %v allocations, want 0", name, n)
		}
	}
}
