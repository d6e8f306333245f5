package redstream

import "strings"

// HeaderPrefix starts the name of every field that holds a header rather
// than one of the user's fields. Headers are metadata that travel with an
// entry apart from its fields, such as the W3C "traceparent" of the
// trace that published it. The convention, which any language and
// redis-cli can read and write:
//
//   - header h is the field "redstream:h:" + h, its value the header's;
//   - a Publisher writes an entry's headers first, in the order given,
//     then its fields, so "XADD s * redstream:h:traceparent 00-… name v"
//     is an entry with one header and one field;
//   - a reader takes every field whose name starts with HeaderPrefix as a
//     header, wherever it stands, and all the others as fields, in their
//     order; entries without such fields (most producers') have no
//     headers and arrive exactly as written.
//
// A field given to Publish whose name starts with HeaderPrefix is thus a
// header by hand, as it would be from redis-cli.
const HeaderPrefix = "redstream:h:"

// maxScriptHeaders bounds the headers of an entry that passes through a
// Lua script (a MsgID, a schedule): Lua unpacks at most about 8,000
// values, which maxDedupFields user fields and this many headers stay
// under. The few headers a tracer adds always fit.
const maxScriptHeaders = 64

// fitsScript reports whether an entry of n fields, headers included, can
// be passed whole through a Lua script's argument list.
func fitsScript(n int) bool { return n <= maxDedupFields+maxScriptHeaders }

// isHeader reports whether a field's name marks it as a header.
func isHeader(name string) bool { return strings.HasPrefix(name, HeaderPrefix) }

// splitHeaders separates an entry's raw fields into headers, named
// without HeaderPrefix, and the user's fields. It allocates nothing for
// an entry without headers, nor for one whose headers lead, as a
// Publisher writes them: both slices then share fs's array.
func splitHeaders(fs []Field) (headers, fields []Field) {
	n := 0 // leading headers
	for n < len(fs) && isHeader(fs[n].Name) {
		n++
	}
	rest := n
	for rest < len(fs) && !isHeader(fs[rest].Name) {
		rest++
	}
	if rest == len(fs) { // no header after the first field that is not one
		if n == 0 {
			return nil, fs
		}
		for i := range fs[:n] {
			fs[i].Name = fs[i].Name[len(HeaderPrefix):]
		}
		return fs[:n:n], fs[n:]
	}
	for i := range fs {
		if isHeader(fs[i].Name) {
			headers = append(headers, Field{Name: fs[i].Name[len(HeaderPrefix):], Value: fs[i].Value})
		} else {
			fields = append(fields, fs[i])
		}
	}
	return headers, fields
}

// joinHeaders returns the fields that store headers and fields in an
// entry: the headers first, named with HeaderPrefix, then the fields. It
// returns fields itself when there are no headers.
func joinHeaders(headers, fields []Field) []Field {
	if len(headers) == 0 {
		return fields
	}
	out := make([]Field, 0, len(headers)+len(fields))
	for _, h := range headers {
		out = append(out, Field{Name: headerField(h.Name), Value: h.Value})
	}
	return append(out, fields...)
}

// headerField returns the name of the field that stores header name:
// HeaderPrefix+name. The headers a tracer writes on every entry get
// constant names, so that writing them builds no string.
func headerField(name string) string {
	switch name {
	case "traceparent":
		return HeaderPrefix + "traceparent"
	case "tracestate":
		return HeaderPrefix + "tracestate"
	case "baggage":
		return HeaderPrefix + "baggage"
	}
	return HeaderPrefix + name
}

// handHeaders returns e with the header fields its caller wrote by hand
// among its Fields moved to the end of its Headers, so that a tracer
// sees every header where it looks; e's slices are not written to. An
// entry whose fields are all headers is left as it is: it still needs a
// field.
func handHeaders(e Entry) Entry {
	n := 0
	for _, f := range e.Fields {
		if isHeader(f.Name) {
			n++
		}
	}
	if n == 0 || n == len(e.Fields) {
		return e
	}
	headers, fields := splitHeaders(append([]Field(nil), e.Fields...))
	e.Headers = append(append(make([]Field, 0, len(e.Headers)+len(headers)), e.Headers...), headers...)
	e.Fields = fields
	return e
}

// handHeadersAll applies handHeaders to each of entries, in place.
func handHeadersAll(entries []Entry) {
	for i := range entries {
		entries[i] = handHeaders(entries[i])
	}
}

// Header returns the value of the message's first header called name, or
// "" when it has none.
func (m *Message) Header(name string) string {
	for _, h := range m.Headers {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}
