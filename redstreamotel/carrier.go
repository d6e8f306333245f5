package redstreamotel

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// carrier lets a propagator read and write an entry's headers, named
// without redstream.HeaderPrefix: "traceparent" travels as the field
// "redstream:h:traceparent".
type carrier struct{ fields []redstream.Field }

// callerContext returns the span context an entry's caller set in its
// headers before it is traced (the Publisher has moved header fields
// written by hand among the fields there), or an invalid one.
func (h *Hooks) callerContext(e *redstream.Entry) trace.SpanContext {
	_, sc := h.extract(e.Headers)
	return sc
}

var _ propagation.TextMapCarrier = (*carrier)(nil)

// Get returns the value of the first header called key, or "".
func (c *carrier) Get(key string) string {
	for _, f := range c.fields {
		if f.Name == key {
			return f.Value
		}
	}
	return ""
}

// Set replaces the value of the header called key, or appends it.
func (c *carrier) Set(key, value string) {
	for i := range c.fields {
		if c.fields[i].Name == key {
			c.fields[i].Value = value
			return
		}
	}
	c.fields = append(c.fields, redstream.Field{Name: key, Value: value})
}

// Keys returns the headers' names.
func (c *carrier) Keys() []string {
	keys := make([]string, len(c.fields))
	for i, f := range c.fields {
		keys[i] = f.Name
	}
	return keys
}

// inject returns headers with ctx's trace context added, in a new slice:
// headers is the caller's and is not written to.
func (h *Hooks) inject(ctx context.Context, headers []redstream.Field) []redstream.Field {
	c := carrier{fields: make([]redstream.Field, len(headers), len(headers)+h.nprop)}
	copy(c.fields, headers)
	h.prop.Inject(ctx, &c)
	return c.fields
}

// extract returns the context carried in headers: its span context
// (invalid when there is none) and anything else the propagator reads,
// such as baggage, in a context of its own.
func (h *Hooks) extract(headers []redstream.Field) (context.Context, trace.SpanContext) {
	if len(headers) == 0 {
		return context.Background(), trace.SpanContext{}
	}
	ctx := h.prop.Extract(context.Background(), &carrier{fields: headers})
	return ctx, trace.SpanContextFromContext(ctx)
}
