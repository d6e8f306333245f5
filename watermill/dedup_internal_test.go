package redstreamwm

import (
	"strings"
	"testing"
)

func TestKeySlot(t *testing.T) {
	// Vectors from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{
		"123456789":         0x31C3 & 16383,
		"foo":               12182,
		"{user1000}.a":      keySlot("user1000"),
		"foo{}{bar}":        keySlot("foo{}{bar}"),
		"foo{{bar}}zap":     keySlot("{bar"),
		"foo{bar}{zap}":     keySlot("bar"),
		"somekey":           11058,
		"{tag}key":          keySlot("tag"),
		"no-closing-{brace": 11742, // no tag: CRC16 of the whole key
	} {
		if got := keySlot(key); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

func TestDedupKeySharesTheTopicSlot(t *testing.T) {
	for _, topic := range []string{
		"orders", "", "{orders}.eu", "a{b}c", "a{b", "a}b", "a{}b", "}", "{}", "a{}b{c}", "x}{y}",
	} {
		key := dedupKey(topic, "6f1c{}-uuid}")
		if keySlot(key) != keySlot(topic) {
			t.Errorf("dedupKey(%q) = %q: slot %d, topic's %d", topic, key, keySlot(key), keySlot(topic))
		}
		if !strings.Contains(key, dedupInfix) {
			t.Errorf("dedupKey(%q) = %q lacks %q", topic, key, dedupInfix)
		}
	}
	if got := dedupKey("orders", "u"); got != "{orders}:wm-dedup:u" {
		t.Errorf("dedupKey(orders) = %q", got)
	}
	if got := dedupKey("{orders}.eu", "u"); got != "{orders}.eu:wm-dedup:u" {
		t.Errorf("dedupKey({orders}.eu) = %q", got)
	}
	tags := slotTags()
	for s, tag := range tags {
		if keySlot(tag) != uint16(s) || strings.ContainsAny(tag, "{}") {
			t.Fatalf("slotTags()[%d] = %q hashes to %d", s, tag, keySlot(tag))
		}
	}
}
