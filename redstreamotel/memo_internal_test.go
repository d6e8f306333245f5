package redstreamotel

import "testing"

// A memo keeps at most maxMemo values, so that hooks serving ever new
// streams do not grow without end; past the bound each store returns
// the value it was given, and the values kept stay; a key stored twice
// (by two goroutines that both missed it) keeps the first value.
func TestMemoStopsKeepingAtItsBound(t *testing.T) {
	var m memo[int, *int]
	for i := range maxMemo + 10 {
		v := i
		if got := m.store(i, &v); *got != i {
			t.Fatalf("store(%d) returned %d", i, *got)
		}
	}
	kept := 0
	m.m.Range(func(any, any) bool { kept++; return true })
	if kept != maxMemo {
		t.Errorf("the memo keeps %d values, want at most %d", kept, maxMemo)
	}
	if _, ok := m.load(maxMemo + 5); ok {
		t.Errorf("a value stored past the bound was kept")
	}
	if v, ok := m.load(7); !ok || *v != 7 {
		t.Errorf("load(7) = %v, %v; want the value kept", v, ok)
	}

	var fresh memo[int, *int]
	first, second := 1, 2
	fresh.store(0, &first)
	if got := fresh.store(0, &second); got != &first {
		t.Errorf("storing a key kept already returned %d, want the value kept, %d", *got, first)
	}
}
