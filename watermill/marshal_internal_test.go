package redstreamwm

import (
	"bytes"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
)

func TestEncodeMetadataGolden(t *testing.T) {
	got := encodeMetadata(message.Metadata{"b": "2", "a": "1"})
	want := []byte{0x82, 0xa1, 'a', 0xa1, '1', 0xa1, 'b', 0xa1, '2'}
	if !bytes.Equal(got, want) {
		t.Fatalf("encodeMetadata = % x, want % x", got, want)
	}
}

func TestDecodeMetadataAcceptsOtherEncodings(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want message.Metadata
	}{
		{"nil map", []byte{0xc0}, message.Metadata{}},
		{"str8 and bin8", []byte{0x81, 0xd9, 1, 'k', 0xc4, 1, 'v'}, message.Metadata{"k": "v"}},
		{"map16, nil value", []byte{0xde, 0, 1, 0xa1, 'k', 0xc0}, message.Metadata{"k": ""}},
		{"map32", []byte{0xdf, 0, 0, 0, 1, 0xa1, 'k', 0xa1, 'v'}, message.Metadata{"k": "v"}},
	} {
		got, err := decodeMetadata(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) || got["k"] != tc.want["k"] {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	for _, bad := range [][]byte{{}, {0x81}, {0x81, 0xa1}, {0x81, 0x01, 0xa0}, {0xdf, 0xff, 0xff, 0xff, 0xff}, {0x80, 0x00}, {0x91, 0xa0}} {
		if _, err := decodeMetadata(bad); err == nil {
			t.Errorf("decodeMetadata(% x) succeeded", bad)
		}
	}
}

func FuzzMetadata(f *testing.F) {
	f.Add([]byte{0x82, 0xa1, 'a', 0xa1, '1', 0xa1, 'b', 0xa1, '2'}, "k", "v")
	f.Add([]byte{0xde, 0xff, 0xff}, "", "")
	f.Fuzz(func(t *testing.T, raw []byte, k, v string) {
		// Arbitrary bytes never panic, and what decodes re-encodes to
		// something that decodes to the same metadata.
		if md, err := decodeMetadata(raw); err == nil {
			again, err := decodeMetadata(encodeMetadata(md))
			if err != nil || len(again) != len(md) {
				t.Fatalf("re-encoding %v: %v %v", md, again, err)
			}
			for key, val := range md {
				if again[key] != val {
					t.Fatalf("re-encoding changed %q: %q -> %q", key, val, again[key])
				}
			}
		}
		md := message.Metadata{k: v, k + "2": v + v}
		got, err := decodeMetadata(encodeMetadata(md))
		if err != nil || len(got) != len(md) || got[k] != v || got[k+"2"] != v+v {
			t.Fatalf("round trip of %v: %v %v", md, got, err)
		}
	})
}
