package keyslot

import "testing"

func TestOf(t *testing.T) {
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16 check value = %#x, want 0x31c3 (the cluster spec's)", got)
	}
	for _, tc := range []struct {
		key  string
		want uint16
	}{
		{"foo", 12182}, // CLUSTER KEYSLOT foo
		{"{user1000}.following", Of("user1000")},
		{"foo{}{bar}", Of("foo{}{bar}")}, // empty tag: whole key
		{"foo{{bar}}zap", Of("{bar")},
		{"foo{bar}{zap}", Of("bar")},
	} {
		if got := Of(tc.key); got != tc.want {
			t.Errorf("Of(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
	if !Same("{tickets}", "{tickets}:dead") || Same("tickets", "tickets:dead") && Of("tickets") != Of("tickets:dead") {
		t.Error("Same disagrees with Of")
	}
}
