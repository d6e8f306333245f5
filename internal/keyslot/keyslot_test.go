package keyslot

import "testing"

func TestOf(t *testing.T) {
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16 check value = %#x, want 0x31c3 (the cluster spec's)", got)
	}
	// Every want is what CLUSTER KEYSLOT answers (redis-server 7.0.15 with
	// cluster-enabled yes), so none is computed by the code under test.
	for _, tc := range []struct {
		key  string
		want uint16
	}{
		{"", 0},
		{"foo", 12182},
		{"bar", 5061},
		{"user1000", 3443},
		{"{user1000}.following", 3443}, // the tag is hashed: slot of "user1000"
		{"{}foo", 9500},                // "{}" is no tag: the whole key, not "" (0) nor "foo" (12182)
		{"foo{}", 5542},
		{"{}", 15257},
		{"foo{}{bar}", 8363},    // the first "{" decides: empty, so the whole key, not "bar" (5061)
		{"{}{user1000}", 11203}, // likewise, not "user1000" (3443)
		{"foo{{bar}}zap", 4015}, // the tag is "{bar", up to the first "}"
		{"foo{bar}{zap}", 5061}, // only the first tag counts: "bar"
		{"no-closing-{brace", 11742},
	} {
		if got := Of(tc.key); got != tc.want {
			t.Errorf("Of(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
	for _, tc := range []struct {
		keys []string
		want bool
	}{
		{nil, true},
		{[]string{"tickets"}, true},
		{[]string{"{tickets}", "{tickets}:dead", "tickets"}, true}, // all 6252
		{[]string{"tickets", "tickets:dead"}, false},               // 6252, 11606
	} {
		if got := Same(tc.keys...); got != tc.want {
			t.Errorf("Same(%q) = %v, want %v", tc.keys, got, tc.want)
		}
	}
}
