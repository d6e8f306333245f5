package redstreamwm

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/redstream-go/redstream"
)

// The fields of the Watermill layout. They are the ones
// github.com/ThreeDotsLabs/watermill-redisstream writes, so its entries
// are read here, and entries written here with RedisstreamMarshaler are
// read there.
const (
	// UUIDField holds the Watermill message UUID. Its presence marks an
	// entry as written in the Watermill layout.
	UUIDField = "_watermill_message_uuid"
	// PayloadField holds the payload bytes as they are.
	PayloadField = "payload"
	// MetadataField holds the metadata as a MessagePack map of strings to
	// strings, in entries written by watermill-redisstream or by
	// RedisstreamMarshaler; it is left out when the metadata is empty.
	// DefaultMarshaler writes metadata as headers instead, and reads both.
	MetadataField = "metadata"
)

// Marshaler turns Watermill messages into stream entry fields and entries
// back into messages. Implementations must be safe for concurrent use.
type Marshaler interface {
	// Marshal returns the fields of the entry that carries msg to topic.
	// A field whose name starts with redstream.HeaderPrefix is one of
	// the entry's headers: the Publisher writes it as such (before the
	// other fields, where a publish tracer sees it).
	Marshal(topic string, msg *message.Message) ([]redstream.Field, error)
	// Unmarshal returns the message an entry carries; the entry's
	// headers are in entry.Headers, apart from its Fields. The Subscriber
	// sets the returned message's context; an error sends the entry to
	// the dead-letter stream at once (it wraps redstream.ErrDecode).
	Unmarshal(entry *redstream.Message) (*message.Message, error)
}

// DefaultMarshaler writes and reads the Watermill layout, with metadata
// as redstream headers:
//
//	redstream:h:<key>        one header per metadata key, with its value,
//	                         sorted by key (see redstream.HeaderPrefix)
//	_watermill_message_uuid  the message UUID
//	payload                  the payload bytes, unchanged
//
// So any redstream consumer reads a message's metadata as the entry's
// Headers, redis-cli shows it as fields named redstream:h:..., and
// headers written by any producer (a redstream.Publisher's Entry.Headers,
// a tracer's traceparent) arrive as metadata. Each key is a field of its
// own: while the Publisher deduplicates (DedupWindow), a message with more
// than about 3,990 metadata keys exceeds what its script can write, and
// Publish fails; RedisstreamMarshaler packs the metadata into one field.
//
// It also reads the MessagePack "metadata" field of entries written by
// watermill-redisstream or RedisstreamMarshaler; a key that is both a
// header and in that field takes the header's value. Entries without a
// _watermill_message_uuid field, written by other producers (redis-cli,
// redstream.Publisher, other languages), are still delivered:
//
//   - UUID: the entry ID ("1700000000000-0"), the same on every
//     redelivery, so Watermill's deduplication works.
//   - An entry whose only field is named payload: that value is the
//     payload, and the metadata is its headers.
//   - Any other entry: the payload is a JSON object of the fields in
//     entry order, every value a JSON string (of a repeated name the
//     first wins; invalid UTF-8 becomes U+FFFD), and every field is also
//     a metadata key with its value, as is every header (a header wins
//     over a field of the same name).
//
// The zero value is ready to use.
type DefaultMarshaler struct{}

// Marshal writes msg in the Watermill layout, its metadata as headers.
func (DefaultMarshaler) Marshal(_ string, msg *message.Message) ([]redstream.Field, error) {
	fs := make([]redstream.Field, 0, len(msg.Metadata)+2)
	for _, k := range sortedKeys(msg.Metadata) {
		fs = append(fs, redstream.Field{Name: redstream.HeaderPrefix + k, Value: msg.Metadata[k]})
	}
	fs = append(fs,
		redstream.Field{Name: UUIDField, Value: msg.UUID},
		redstream.Field{Name: PayloadField, Value: string(msg.Payload)},
	)
	return fs, nil
}

// Unmarshal reads an entry in the Watermill layout, or derives a message
// from a plain entry as described on DefaultMarshaler.
func (DefaultMarshaler) Unmarshal(e *redstream.Message) (*message.Message, error) {
	if uuid, ok := e.Get(UUIDField); ok {
		if uuid == "" {
			uuid = e.ID
		}
		msg := message.NewMessage(uuid, []byte(e.Value(PayloadField)))
		if md := e.Value(MetadataField); md != "" {
			m, err := decodeMetadata([]byte(md))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", MetadataField, err)
			}
			msg.Metadata = m
		}
		setHeaders(msg, e.Headers)
		return msg, nil
	}
	if len(e.Fields) == 1 && e.Fields[0].Name == PayloadField {
		msg := message.NewMessage(e.ID, []byte(e.Fields[0].Value))
		setHeaders(msg, e.Headers)
		return msg, nil
	}
	msg := message.NewMessage(e.ID, fieldsJSON(e.Fields))
	for _, f := range e.Fields {
		if _, seen := msg.Metadata[f.Name]; !seen {
			msg.Metadata[f.Name] = f.Value
		}
	}
	setHeaders(msg, e.Headers)
	return msg, nil
}

// setHeaders sets each header as a metadata key; of a repeated name the
// first wins, as Message.Header reads it.
func setHeaders(msg *message.Message, headers []redstream.Field) {
	for i := len(headers) - 1; i >= 0; i-- {
		msg.Metadata[headers[i].Name] = headers[i].Value
	}
}

// RedisstreamMarshaler writes watermill-redisstream's own layout, the
// one DefaultMarshaler wrote before metadata became headers:
//
//	_watermill_message_uuid  the message UUID
//	payload                  the payload bytes, unchanged
//	metadata                 the metadata as a MessagePack map (omitted when empty)
//
// Give it to a Publisher (WithMarshaler) while subscribers built on
// watermill-redisstream still read the topic: they read the metadata
// field and ignore headers, so with DefaultMarshaler they would get the
// messages without their metadata. It reads entries as DefaultMarshaler
// does, so a Subscriber with either reads what both write. The zero value
// is ready to use.
type RedisstreamMarshaler struct{}

// Marshal writes msg in watermill-redisstream's layout.
func (RedisstreamMarshaler) Marshal(_ string, msg *message.Message) ([]redstream.Field, error) {
	fs := make([]redstream.Field, 0, 3)
	fs = append(fs,
		redstream.Field{Name: UUIDField, Value: msg.UUID},
		redstream.Field{Name: PayloadField, Value: string(msg.Payload)},
	)
	if len(msg.Metadata) > 0 {
		fs = append(fs, redstream.Field{Name: MetadataField, Value: string(encodeMetadata(msg.Metadata))})
	}
	return fs, nil
}

// Unmarshal reads an entry as DefaultMarshaler.Unmarshal does.
func (RedisstreamMarshaler) Unmarshal(e *redstream.Message) (*message.Message, error) {
	return DefaultMarshaler{}.Unmarshal(e)
}

// splitHeaders separates the fields a Marshaler returned into the entry's
// headers, named without redstream.HeaderPrefix, and its other fields, in
// their order. It returns fs itself when there are no headers.
func splitHeaders(fs []redstream.Field) (headers, fields []redstream.Field) {
	n := 0
	for _, f := range fs {
		if strings.HasPrefix(f.Name, redstream.HeaderPrefix) {
			n++
		}
	}
	if n == 0 {
		return nil, fs
	}
	headers = make([]redstream.Field, 0, n)
	fields = make([]redstream.Field, 0, len(fs)-n)
	for _, f := range fs {
		if name, ok := strings.CutPrefix(f.Name, redstream.HeaderPrefix); ok {
			headers = append(headers, redstream.Field{Name: name, Value: f.Value})
		} else {
			fields = append(fields, f)
		}
	}
	return headers, fields
}

// fieldsJSON encodes fields as a JSON object of strings in entry order;
// of a repeated name the first wins.
func fieldsJSON(fs []redstream.Field) []byte {
	seen := make(map[string]bool, len(fs))
	b := []byte{'{'}
	for _, f := range fs {
		if seen[f.Name] {
			continue
		}
		seen[f.Name] = true
		if len(b) > 1 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(f.Name) // a string never fails to encode
		v, _ := json.Marshal(f.Value)
		b = append(b, k...)
		b = append(b, ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

// sortedKeys returns the metadata's keys in order, so that the same
// metadata always gives the same entry.
func sortedKeys(md message.Metadata) []string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// encodeMetadata writes metadata as a MessagePack map of strings, keys
// sorted so that the same metadata always gives the same bytes.
func encodeMetadata(md message.Metadata) []byte {
	keys := sortedKeys(md)
	size := 5
	for k, v := range md {
		size += len(k) + len(v) + 10
	}
	b := make([]byte, 0, size)
	switch n := len(keys); {
	case n < 16:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0xde)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xdf)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	for _, k := range keys {
		b = appendStr(b, k)
		b = appendStr(b, md[k])
	}
	return b
}

func appendStr(b []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n < 1<<8:
		b = append(b, 0xd9, byte(n))
	case n < 1<<16:
		b = append(b, 0xda)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0xdb)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	}
	return append(b, s...)
}

var errMsgpack = errors.New("metadata is not a MessagePack map of strings")

// decodeMetadata reads a MessagePack map whose keys and values are
// strings (or binary, or nil values), as encodeMetadata and
// watermill-redisstream write it. A nil map gives empty metadata.
func decodeMetadata(b []byte) (message.Metadata, error) {
	d := mpDecoder{b: b}
	n, ok := d.mapLen()
	if !ok {
		return nil, errMsgpack
	}
	md := make(message.Metadata, min(n, len(b)/2))
	for range n {
		k, ok := d.str()
		if !ok {
			return nil, errMsgpack
		}
		v, ok := d.str()
		if !ok {
			return nil, errMsgpack
		}
		md[k] = v
	}
	if d.off != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", errMsgpack, len(b)-d.off)
	}
	return md, nil
}

type mpDecoder struct {
	b   []byte
	off int
}

func (d *mpDecoder) next(n int) ([]byte, bool) {
	if n < 0 || len(d.b)-d.off < n {
		return nil, false
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p, true
}

func (d *mpDecoder) uint(size int) (int, bool) {
	p, ok := d.next(size)
	if !ok {
		return 0, false
	}
	switch size {
	case 1:
		return int(p[0]), true
	case 2:
		return int(binary.BigEndian.Uint16(p)), true
	default:
		return int(binary.BigEndian.Uint32(p)), true
	}
}

func (d *mpDecoder) mapLen() (int, bool) {
	p, ok := d.next(1)
	if !ok {
		return 0, false
	}
	switch c := p[0]; {
	case c&0xf0 == 0x80:
		return int(c & 0x0f), true
	case c == 0xc0: // nil
		return 0, true
	case c == 0xde:
		return d.uint(2)
	case c == 0xdf:
		return d.uint(4)
	}
	return 0, false
}

func (d *mpDecoder) str() (string, bool) {
	p, ok := d.next(1)
	if !ok {
		return "", false
	}
	var n int
	switch c := p[0]; {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xc0: // nil
		return "", true
	case c == 0xd9, c == 0xc4:
		n, ok = d.uint(1)
	case c == 0xda, c == 0xc5:
		n, ok = d.uint(2)
	case c == 0xdb, c == 0xc6:
		n, ok = d.uint(4)
	default:
		return "", false
	}
	if !ok {
		return "", false
	}
	s, ok := d.next(n)
	if !ok {
		return "", false
	}
	return string(s), true
}
