package redstreamotel

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// carrier lets a propagator read and write an entry's headers, named
// without redstream.HeaderPrefix: "traceparent" travels as the field
// "redstream:h:traceparent". A *carrier made from a pointer to a
// Headers field, (*carrier)(&m.Headers), costs no allocation.
type carrier []redstream.Field

// callerContext returns the span context an entry's caller set in its
// headers before it is traced (the Publisher has moved header fields
// written by hand among the fields there), or an invalid one.
func (h *Hooks) callerContext(e *redstream.Entry) trace.SpanContext {
	_, sc := h.extract(&e.Headers)
	return sc
}

var _ propagation.TextMapCarrier = (*carrier)(nil)

// Get returns the value of the first header called key, or "".
func (c *carrier) Get(key string) string {
	for _, f := range *c {
		if f.Name == key {
			return f.Value
		}
	}
	return ""
}

// Set replaces the value of the header called key, or appends it.
func (c *carrier) Set(key, value string) {
	for i := range *c {
		if (*c)[i].Name == key {
			(*c)[i].Value = value
			return
		}
	}
	*c = append(*c, redstream.Field{Name: key, Value: value})
}

// Keys returns the headers' names.
func (c *carrier) Keys() []string {
	keys := make([]string, len(*c))
	for i, f := range *c {
		keys[i] = f.Name
	}
	return keys
}

// inject returns headers with ctx's trace context added, in a new slice:
// headers is the caller's and is not written to.
func (h *Hooks) inject(ctx context.Context, headers []redstream.Field) []redstream.Field {
	c := make(carrier, len(headers), len(headers)+h.nprop)
	copy(c, headers)
	h.prop.Inject(ctx, &c)
	return c
}

// extract returns the context carried in *headers: its span context
// (invalid when there is none) and anything else the propagator reads,
// such as baggage, in a context of its own. It takes a pointer to an
// entry's or a message's Headers, which the carrier then wraps without
// an allocation.
func (h *Hooks) extract(headers *[]redstream.Field) (context.Context, trace.SpanContext) {
	if len(*headers) == 0 {
		return context.Background(), trace.SpanContext{}
	}
	ctx := h.prop.Extract(context.Background(), (*carrier)(headers))
	return ctx, trace.SpanContextFromContext(ctx)
}

// injector writes the creation contexts of a publish call's entries into
// new header slices carved from one array, one allocation for the call
// instead of one or two an entry.
type injector struct {
	prop propagation.TextMapPropagator
	room int               // fields reserved for the propagator's, an entry
	free []redstream.Field // the array's unused part, empty, with its capacity
	c    carrier           // reused: a carrier passed to Inject escapes
}

// newInjector returns an injector with room for entries' headers and
// what the propagator declares it writes (its Fields) for each.
func (h *Hooks) newInjector(entries []redstream.Entry) *injector {
	n := 0
	for i := range entries {
		n += len(entries[i].Headers) + h.nprop
	}
	return &injector{prop: h.prop, room: h.nprop, free: make([]redstream.Field, 0, n)}
}

// inject is Hooks.inject with the new slice carved from the array. Each
// slice is capped at the entry's room, so that appending to one never
// writes into the next: a propagator that writes more fields than it
// declares makes the carrier's append move to an array of its own, and
// so does appending to the entry's headers later.
func (in *injector) inject(ctx context.Context, headers []redstream.Field) []redstream.Field {
	k := len(headers) + in.room
	if cap(in.free) < k { // a miscounted array: allocate rather than panic
		in.c = make(carrier, len(headers), k)
		copy(in.c, headers)
	} else {
		in.c = append(in.free[:0:k], headers...)
		in.free = in.free[k:k:cap(in.free)]
	}
	in.prop.Inject(ctx, &in.c)
	return in.c
}
