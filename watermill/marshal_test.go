package redstreamwm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/redstream-go/redstream"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

func sampleMessages() []*message.Message {
	big := message.NewMessage("big", []byte(strings.Repeat("p", 70000)))
	for i := range 20 { // more than 15 keys: a map16 header
		big.Metadata.Set(fmt.Sprintf("k%02d", i), strings.Repeat("v", i*20)) // fixstr, str8
	}
	big.Metadata.Set("long", strings.Repeat("x", 70000)) // str32
	big.Metadata.Set("mid", strings.Repeat("y", 300))    // str16
	withMeta := message.NewMessage("with-meta", []byte(`{"a":1}`))
	withMeta.Metadata.Set("trace", "00-abc")
	withMeta.Metadata.Set("", "empty key")
	withMeta.Metadata.Set("empty value", "")
	withMeta.Metadata.Set("ünïcode", "✓")
	return []*message.Message{
		message.NewMessage("plain", []byte("x")),
		message.NewMessage("empty-payload", nil),
		message.NewMessage("binary", []byte{0, 1, 0xff, 0xc0, '\n'}),
		withMeta,
		big,
	}
}

// asEntry is the Message a consumer reads of an entry written with fs:
// the fields named with redstream.HeaderPrefix are its headers.
func asEntry(fs []redstream.Field) *redstream.Message {
	m := &redstream.Message{ID: "1700000000000-0", Stream: "s", Deliveries: 1}
	for _, f := range fs {
		if name, ok := strings.CutPrefix(f.Name, redstream.HeaderPrefix); ok {
			m.Headers = append(m.Headers, redstream.Field{Name: name, Value: f.Value})
		} else {
			m.Fields = append(m.Fields, f)
		}
	}
	return m
}

func TestDefaultMarshalerRoundTrip(t *testing.T) {
	var m redstreamwm.DefaultMarshaler
	for _, in := range sampleMessages() {
		t.Run(in.UUID, func(t *testing.T) {
			fs, err := m.Marshal("s", in)
			if err != nil {
				t.Fatal(err)
			}
			// One header per metadata key, then the UUID and the payload.
			n := len(in.Metadata)
			if len(fs) != n+2 || fs[n].Name != redstreamwm.UUIDField || fs[n+1].Name != redstreamwm.PayloadField {
				t.Fatalf("layout: %d fields for %d metadata keys, then %v", len(fs), n, fs[n:])
			}
			for _, f := range fs[:n] {
				k, ok := strings.CutPrefix(f.Name, redstream.HeaderPrefix)
				if v, in := in.Metadata[k]; !ok || !in || v != f.Value {
					t.Fatalf("field %q=%q is not a header of the metadata", f.Name, f.Value)
				}
			}
			out, err := m.Unmarshal(asEntry(fs))
			if err != nil {
				t.Fatal(err)
			}
			if !in.Equals(out) {
				t.Fatalf("round trip changed the message: %s %d bytes %v", out.UUID, len(out.Payload), len(out.Metadata))
			}
		})
	}
}

// watermill-redisstream keeps entries as map[string]any; Redis returns
// every value as a string.
func toFields(values map[string]any) []redstream.Field {
	var fs []redstream.Field
	for k, v := range values {
		switch v := v.(type) {
		case []byte:
			fs = append(fs, redstream.Field{Name: k, Value: string(v)})
		case string:
			fs = append(fs, redstream.Field{Name: k, Value: v})
		}
	}
	return fs
}

func TestInteropWithWatermillRedisstream(t *testing.T) {
	var ours redstreamwm.RedisstreamMarshaler
	var theirs redisstream.DefaultMarshallerUnmarshaller
	for _, in := range sampleMessages() {
		t.Run(in.UUID, func(t *testing.T) {
			// Written by watermill-redisstream, read here.
			values, err := theirs.Marshal("s", in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ours.Unmarshal(asEntry(toFields(values)))
			if err != nil {
				t.Fatal(err)
			}
			if !in.Equals(got) {
				t.Errorf("entry from watermill-redisstream read as %s %q %v", got.UUID, got.Payload, got.Metadata)
			}
			// Written here, read by watermill-redisstream.
			fs, err := ours.Marshal("s", in)
			if err != nil {
				t.Fatal(err)
			}
			asMap := map[string]any{}
			for _, f := range fs {
				asMap[f.Name] = f.Value
			}
			got, err = theirs.Unmarshal(asMap)
			if err != nil {
				t.Fatal(err)
			}
			if !in.Equals(got) {
				t.Errorf("entry written here read by watermill-redisstream as %s %q %v", got.UUID, got.Payload, got.Metadata)
			}
		})
	}
}

func TestUnmarshalPlainEntries(t *testing.T) {
	var m redstreamwm.DefaultMarshaler
	for _, tc := range []struct {
		name    string
		fields  []string
		payload string
		meta    message.Metadata
	}{
		{"seed ticket", []string{"whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data"},
			`{"whatHappened":"ticket received","ticketID":"98498081","ticketData":"some ticket data"}`,
			message.Metadata{"whatHappened": "ticket received", "ticketID": "98498081", "ticketData": "some ticket data"}},
		{"single payload field", []string{"payload", "raw bytes"}, "raw bytes", message.Metadata{}},
		{"payload among others", []string{"payload", "p", "k", "v"}, `{"payload":"p","k":"v"}`, message.Metadata{"payload": "p", "k": "v"}},
		{"single other field", []string{"json", `{"a":1}`}, `{"json":"{\"a\":1}"}`, message.Metadata{"json": `{"a":1}`}},
		{"repeated name, first wins", []string{"a", "1", "a", "2"}, `{"a":"1"}`, message.Metadata{"a": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := m.Unmarshal(asEntry(redstream.Fields(tc.fields...)))
			if err != nil {
				t.Fatal(err)
			}
			if msg.UUID != "1700000000000-0" {
				t.Errorf("UUID = %q, want the entry ID", msg.UUID)
			}
			if string(msg.Payload) != tc.payload {
				t.Errorf("payload = %s, want %s", msg.Payload, tc.payload)
			}
			if len(msg.Metadata) != len(tc.meta) {
				t.Errorf("metadata = %v, want %v", msg.Metadata, tc.meta)
			}
			for k, v := range tc.meta {
				if got, ok := msg.Metadata[k]; !ok || got != v {
					t.Errorf("metadata[%q] = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestUnmarshalCorruptMetadataFails(t *testing.T) {
	var m redstreamwm.DefaultMarshaler
	_, err := m.Unmarshal(asEntry(redstream.Fields(redstreamwm.UUIDField, "u", redstreamwm.PayloadField, "p", redstreamwm.MetadataField, "\x81\xa1")))
	if err == nil {
		t.Fatal("truncated metadata decoded without error")
	}
}
