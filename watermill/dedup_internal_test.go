package redstreamwm

import (
	"strings"
	"testing"
)

func TestKeySlot(t *testing.T) {
	// Every want is what CLUSTER KEYSLOT answers (redis-server 7.0.15 with
	// cluster-enabled yes), so none is computed by the code under test.
	for key, want := range map[string]uint16{
		"123456789":         0x31C3 & 16383, // the spec's CRC16 check value: 12739
		"foo":               12182,
		"somekey":           11058,
		"{user1000}.a":      3443, // the tag is hashed: slot of "user1000"
		"{tag}key":          8338, // slot of "tag"
		"{}foo":             9500, // "{}" is no tag: the whole key, not "" (0) nor "foo" (12182)
		"a{}b":              13694,
		"foo{}{bar}":        8363, // the first "{" decides: empty, so the whole key, not "bar" (5061)
		"a{}b{c}":           7353, // likewise, not "c" (7365)
		"foo{{bar}}zap":     4015, // the tag is "{bar", up to the first "}"
		"foo{bar}{zap}":     5061, // only the first tag counts: "bar"
		"no-closing-{brace": 11742,
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
