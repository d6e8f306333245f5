package main

import (
	"encoding/base64"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/redstream-go/redstream"
)

// How the CLI prints what it reads from Redis, where any byte string may
// be a stream name, a field name or a value.
//
// Text: a string that is not printable, valid UTF-8 is printed quoted, Go
// style (%q): invalid bytes as \xNN, other unprintable characters as
// escapes. strconv.Unquote gives back the exact bytes.
//
// JSON: a string member "k" whose value is valid UTF-8 is written as a
// JSON string; one that is not is written instead as "k_base64", the
// standard base64 of its bytes. Each member appears in exactly one of the
// two forms, and nothing is ever replaced by U+FFFD.

// printable reports whether s is valid UTF-8 of printable characters
// only (spaces included; tabs, newlines and other controls not).
func printable(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < ' ' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !strconv.IsPrint(r) {
			return false
		}
		i += size
	}
	return true
}

// nameText prints a name (of a stream, group, consumer or key) in a
// message or a table: as it is when it is printable, quoted otherwise, so
// a newline or an invalid byte in a name never reaches the terminal raw.
func nameText(s string) string {
	if s != "" && printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// valueText prints a field value in a table: as it is when it is
// printable, quoted otherwise.
func valueText(s string) string {
	if printable(s) {
		return s
	}
	return strconv.Quote(s)
}

// textLine formats "<id> redstream:h:name=value ... field=value ...\n":
// the entry's headers first, as the entry stores them (see
// redstream.HeaderPrefix), then its fields. A field cannot have a name
// that starts with the prefix (a reader takes such a field as a header),
// so no header reads as a field, and the line's tokens are what XADD
// would be given to write the entry again.
func textLine(m *redstream.Message) []byte { return appendTextLine(nil, m) }

// appendTextLine appends textLine(m) to b.
func appendTextLine(b []byte, m *redstream.Message) []byte {
	b = append(b, m.ID...)
	for _, h := range m.Headers {
		b = append(b, ' ')
		b = appendHeaderName(b, h.Name)
		b = append(b, '=')
		b = appendQuotedIfNeeded(b, h.Value)
	}
	for _, f := range m.Fields {
		b = append(b, ' ')
		b = appendQuotedIfNeeded(b, f.Name)
		b = append(b, '=')
		b = appendQuotedIfNeeded(b, f.Value)
	}
	return append(b, '\n')
}

// appendHeaderName appends the field name that stores the header name,
// redstream.HeaderPrefix+name, quoted as appendQuotedIfNeeded would quote
// it.
func appendHeaderName(b []byte, name string) []byte {
	if needsQuotes(name) && name != "" { // the prefix makes "" a plain name
		return strconv.AppendQuote(b, redstream.HeaderPrefix+name)
	}
	b = append(b, redstream.HeaderPrefix...)
	return append(b, name...)
}

// appendQuotedIfNeeded appends s, quoted Go style when printing it bare
// would be ambiguous on a "field=value field=value" line or unprintable
// (needsQuotes).
func appendQuotedIfNeeded(b []byte, s string) []byte {
	if needsQuotes(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

// needsQuotes reports whether s must be quoted on a "field=value" line:
// when it is empty, holds a space, a quote, "=" or a backslash, or is not
// printable, valid UTF-8.
func needsQuotes(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '"' || c == '=' || c == '\\' {
			return true
		}
	}
	return !printable(s)
}

// quoteIfNeeded returns s as appendQuotedIfNeeded writes it.
func quoteIfNeeded(s string) string { return string(appendQuotedIfNeeded(nil, s)) }

// jsonLine formats an entry as one JSON object and a newline:
//
//	{"id":"...","stream":"...","fields":[{"name":"...","value":"..."},...],"headers":[...],"deliveries":1}
//
// Fields are a list of name/value pairs in the entry's order, repeated
// names included; headers, named without redstream.HeaderPrefix, a list
// of the same pairs, left out when the entry has none. It is what
// encoding/json writes for a *redstream.Message of valid UTF-8. A member
// that is not valid UTF-8 is written as "<key>_base64".
func jsonLine(m *redstream.Message) []byte { return appendJSONLine(nil, m) }

// appendJSONLine appends jsonLine(m) to b. It is consume's hot path: no
// reflection, no allocation beyond growing b.
func appendJSONLine(b []byte, m *redstream.Message) []byte {
	b = append(b, '{')
	b = appendJSONMember(b, "id", m.ID)
	b = append(b, ',')
	b = appendJSONMember(b, "stream", m.Stream)
	b = append(b, `,"fields":`...)
	b = appendJSONFields(b, m.Fields)
	b = appendJSONHeaders(b, m.Headers)
	b = append(b, `,"deliveries":`...)
	b = strconv.AppendInt(b, int64(m.Deliveries), 10)
	return append(b, "}\n"...)
}

// appendJSONHeaders appends `,"headers":[...]` when there are headers,
// in the form of fields, as the library's omitempty tag has it.
func appendJSONHeaders(b []byte, headers []redstream.Field) []byte {
	if len(headers) == 0 {
		return b
	}
	b = append(b, `,"headers":`...)
	return appendJSONFields(b, headers)
}

// appendJSONFields appends fields as a JSON list of name/value pairs.
func appendJSONFields(b []byte, fields []redstream.Field) []byte {
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendJSONMember(b, "name", f.Name)
		b = append(b, ',')
		b = appendJSONMember(b, "value", f.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}

// deadLetterJSON formats a dead letter as one JSON object and a newline,
// with the members of redstream.DeadLetter's json tags and the fields as
// jsonLine writes them.
func deadLetterJSON(d *redstream.DeadLetter) []byte {
	b := append([]byte(nil), '{')
	b = appendJSONMember(b, "id", d.ID)
	b = append(b, ',')
	b = appendJSONMember(b, "original_id", d.OriginalID)
	b = append(b, ',')
	b = appendJSONMember(b, "stream", d.Stream)
	b = append(b, ',')
	b = appendJSONMember(b, "group", d.Group)
	b = append(b, ',')
	b = appendJSONMember(b, "consumer", d.Consumer)
	b = append(b, `,"deliveries":`...)
	b = strconv.AppendInt(b, int64(d.Deliveries), 10)
	b = append(b, ',')
	b = appendJSONMember(b, "error", d.Error)
	b = append(b, `,"time":"`...)
	b = d.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","fields":`...)
	b = appendJSONFields(b, d.Fields)
	b = appendJSONHeaders(b, d.Headers)
	return append(b, "}\n"...)
}

// appendJSONMember appends "key":"s" when s is valid UTF-8, else
// "key_base64":"<base64 of s>", so no byte of s is ever lost.
func appendJSONMember(b []byte, key, s string) []byte {
	b = append(b, '"')
	b = append(b, key...)
	if !utf8.ValidString(s) {
		b = append(b, `_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, []byte(s))
		return append(b, '"')
	}
	b = append(b, `":`...)
	return appendJSONString(b, s)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends the valid UTF-8 string s as a JSON string,
// escaped exactly as encoding/json escapes it (HTML characters, U+2028
// and U+2029 included).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// quoteNames applies nameText to each of names.
func quoteNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = nameText(n)
	}
	return out
}
