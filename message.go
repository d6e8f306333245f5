package redstream

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Field is one field/value pair of a stream entry. In JSON it is
// {"name":...,"value":...}; names and values are bytes, and
// encoding/json replaces bytes that are not valid UTF-8 with U+FFFD (the
// CLI's --json writes such a member as "name_base64"/"value_base64").
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Fields builds entry fields from alternating names and values:
// Fields("whatHappened", "ticket received", "ticketID", "42"). A trailing
// name without a value gets the empty value.
func Fields(namesAndValues ...string) []Field {
	fs := make([]Field, 0, (len(namesAndValues)+1)/2)
	for i := 0; i < len(namesAndValues); i += 2 {
		f := Field{Name: namesAndValues[i]}
		if i+1 < len(namesAndValues) {
			f.Value = namesAndValues[i+1]
		}
		fs = append(fs, f)
	}
	return fs
}

// FieldsFromMap builds entry fields from a map, ordered by name so that
// the same map always yields the same entry.
func FieldsFromMap(m map[string]string) []Field {
	fs := make([]Field, 0, len(m))
	for k, v := range m {
		fs = append(fs, Field{Name: k, Value: v})
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs
}

// Message is one stream entry as delivered to a handler. Fields holds the
// entry's own field/value pairs in the order they were written, so entries
// from any producer (redis-cli, other client libraries) arrive as they are.
// A handler may read a Message concurrently but must not keep it after it
// returns unless it copies it.
type Message struct {
	// ID is the entry ID Redis assigned, "<milliseconds>-<sequence>".
	ID string `json:"id"`
	// Stream is the key of the stream the entry was read from.
	Stream string `json:"stream"`
	// Fields are the entry's field/value pairs in stored order; a field
	// name may repeat if the producer wrote it twice. Headers are not
	// among them.
	Fields []Field `json:"fields"`
	// Headers are the entry's headers (see HeaderPrefix), named without
	// the prefix, in stored order; nil when it has none.
	Headers []Field `json:"headers,omitempty"`
	// Deliveries is how many times Redis has delivered the entry to this
	// group, starting at 1.
	Deliveries int `json:"deliveries"`
	// MaxDeliveries is the consumer's MaxDeliveries, set before the
	// handler is called: the delivery after which a failure goes to the
	// dead-letter stream. 0 means unlimited.
	MaxDeliveries int `json:"-"`
}

// LastAttempt reports whether this is the entry's last delivery before
// the dead-letter stream: if the handler fails now, the entry is
// dead-lettered instead of retried (whatever RetryAfter asks). It is
// never true when MaxDeliveries is 0 (unlimited).
func (m *Message) LastAttempt() bool {
	return m.MaxDeliveries > 0 && m.Deliveries >= m.MaxDeliveries
}

// Get returns the value of the first field called name and whether it
// exists.
func (m *Message) Get(name string) (string, bool) {
	for _, f := range m.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}

// Value returns the value of the first field called name, or "" when the
// entry has no such field.
func (m *Message) Value(name string) string {
	v, _ := m.Get(name)
	return v
}

// Map returns the fields as a map; of repeated names the first wins.
func (m *Message) Map() map[string]string {
	out := make(map[string]string, len(m.Fields))
	for _, f := range m.Fields {
		if _, seen := out[f.Name]; !seen {
			out[f.Name] = f.Value
		}
	}
	return out
}

// Time returns the creation time encoded in the entry ID (millisecond
// precision), or the zero time when the ID is not a valid entry ID.
func (m *Message) Time() time.Time {
	id, err := ParseID(m.ID)
	if err != nil {
		return time.Time{}
	}
	return id.Time()
}

// ID is a parsed stream entry ID.
type ID struct {
	Ms  uint64 // milliseconds since the Unix epoch
	Seq uint64 // sequence number within the millisecond
}

// ParseID parses "<ms>-<seq>" or "<ms>" (sequence 0). Errors match
// ErrInvalidID.
func ParseID(s string) (ID, error) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil || msPart == "" || msPart[0] == '+' {
		return ID{}, fmt.Errorf("%w: %q", ErrInvalidID, s)
	}
	var seq uint64
	if hasSeq {
		seq, err = strconv.ParseUint(seqPart, 10, 64)
		if err != nil || seqPart == "" || seqPart[0] == '+' {
			return ID{}, fmt.Errorf("%w: %q", ErrInvalidID, s)
		}
	}
	return ID{Ms: ms, Seq: seq}, nil
}

// String formats the ID as Redis does.
func (id ID) String() string {
	return strconv.FormatUint(id.Ms, 10) + "-" + strconv.FormatUint(id.Seq, 10)
}

// Time returns the millisecond timestamp of the ID.
func (id ID) Time() time.Time {
	return time.UnixMilli(int64(id.Ms))
}

// Compare returns -1, 0 or +1 as id sorts before, equal to or after o.
func (id ID) Compare(o ID) int {
	switch {
	case id.Ms < o.Ms:
		return -1
	case id.Ms > o.Ms:
		return 1
	case id.Seq < o.Seq:
		return -1
	case id.Seq > o.Seq:
		return 1
	}
	return 0
}
