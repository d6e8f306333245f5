package redstream

import "testing"

// Hooks joined from hooks that hold no tracer, however nested, hold no
// tracer either: the hot paths then skip tracing, allocating nothing.
func TestNestedJoinHooksWithoutTracersTraceNothing(t *testing.T) {
	h := JoinHooks(JoinHooks(NopMetrics{}, NopMetrics{}), NopMetrics{})
	if p, hd := tracersOf(h); p != nil || hd != nil {
		t.Fatalf("tracersOf(JoinHooks(JoinHooks(...), ...)) = %v, %v; want none", p, hd)
	}
}
