package redstream

import (
	"testing"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// A MsgID's marker shares its stream's hash slot, so the script that
// checks it and writes the entry runs on one cluster node.
func TestMsgIDKeySharesTheStreamsSlot(t *testing.T) {
	streams := append([]string{"tickets", "{tickets}", "a{b", "x{tag}y", "{user1000}.following", "no-closing-{brace", "with:colons:and spaces"},
		PartitionKeys("orders", 12)...)
	for _, s := range streams {
		k, ok := msgIDKey(s, "m-1")
		if !ok {
			t.Errorf("msgIDKey(%q) refused", s)
			continue
		}
		if keyslot.Of(k) != keyslot.Of(s) {
			t.Errorf("marker %q in slot %d, stream %q in %d", k, keyslot.Of(k), s, keyslot.Of(s))
		}
	}
	for _, s := range []string{"a}b", "{}a", "foo{}", "foo{}{bar}"} {
		if k, ok := msgIDKey(s, "m"); ok {
			t.Errorf("msgIDKey(%q) = %q, want refused (no key shares its slot)", s, k)
		}
	}
}
