package redstream

import (
	"testing"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// A MsgID's marker shares its stream's hash slot, so the script that
// checks it and writes the entry runs on one cluster node.
func TestMsgIDKeySharesTheStreamsSlot(t *testing.T) {
	streams := append([]string{"tickets", "{tickets}", "a{b", "x{tag}y", "{user1000}.following", "no-closing-{brace", "with:colons:and spaces",
		"a}b", "{}a", "foo{}", "foo{}{bar}"},
		PartitionKeys("orders", 12)...)
	seen := map[string]string{}
	for _, s := range streams {
		k := msgIDKey(s, "m-1")
		if keyslot.Of(k) != keyslot.Of(s) {
			t.Errorf("marker %q in slot %d, stream %q in %d", k, keyslot.Of(k), s, keyslot.Of(s))
		}
		if other, dup := seen[k]; dup {
			t.Errorf("streams %q and %q share the marker %q", other, s, k)
		}
		seen[k] = s
	}
}
