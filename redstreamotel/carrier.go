package redstreamotel

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
)

// carrier lets a propagator read and write an entry's headers, named
// without redstream.HeaderPrefix: "traceparent" travels as the field
// "redstream:h:traceparent".
type carrier struct{ fields []redstream.Field }

// fieldCarrier reads the headers a caller wrote by hand among an entry's
// fields, named with redstream.HeaderPrefix. It is read only.
type fieldCarrier struct{ fields []redstream.Field }

// Get returns the value of the first field that is the header key.
func (c fieldCarrier) Get(key string) string {
	const p = redstream.HeaderPrefix
	for _, f := range c.fields {
		if len(f.Name) == len(p)+len(key) && strings.HasPrefix(f.Name, p) && f.Name[len(p):] == key {
			return f.Value
		}
	}
	return ""
}

// Set does nothing: hand-written headers are the caller's.
func (fieldCarrier) Set(string, string) {}

// Keys returns the names of the headers among the fields.
func (c fieldCarrier) Keys() []string {
	var keys []string
	for _, f := range c.fields {
		if strings.HasPrefix(f.Name, redstream.HeaderPrefix) {
			keys = append(keys, f.Name[len(redstream.HeaderPrefix):])
		}
	}
	return keys
}

// callerContext returns the span context an entry carries before it is
// traced: set by the caller in its Headers, or by hand as a header field
// among its Fields (invalid when there is none).
func (h *Hooks) callerContext(e *redstream.Entry) trace.SpanContext {
	if _, sc := h.extract(e.Headers); sc.IsValid() {
		return sc
	}
	for _, f := range e.Fields {
		if strings.HasPrefix(f.Name, redstream.HeaderPrefix) {
			return trace.SpanContextFromContext(h.prop.Extract(context.Background(), fieldCarrier{fields: e.Fields}))
		}
	}
	return trace.SpanContext{}
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
