package redstream_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/redstream-go/redstream"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    redstream.ID
		wantErr bool
	}{
		{"1615061313111-0", redstream.ID{Ms: 1615061313111, Seq: 0}, false},
		{"5-18446744073709551615", redstream.ID{Ms: 5, Seq: 1<<64 - 1}, false},
		{"42", redstream.ID{Ms: 42}, false},
		{"", redstream.ID{}, true},
		{"-1", redstream.ID{}, true},
		{"1-", redstream.ID{}, true},
		{"+1-2", redstream.ID{}, true},
		{"1-+2", redstream.ID{}, true},
		{"a-b", redstream.ID{}, true},
		{"$", redstream.ID{}, true},
	} {
		got, err := redstream.ParseID(tc.in)
		if tc.wantErr {
			if !errors.Is(err, redstream.ErrInvalidID) {
				t.Errorf("ParseID(%q) error = %v, want ErrInvalidID", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseID(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0-0", "1615061313111-7", "12", "-", "1-2-3", "18446744073709551616-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := redstream.ParseID(s)
		if err != nil {
			return
		}
		back, err := redstream.ParseID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseID(%q) = %v does not round-trip: %v, %v", s, id, back, err)
		}
	})
}

func TestIDCompare(t *testing.T) {
	a, b := redstream.ID{Ms: 1, Seq: 5}, redstream.ID{Ms: 2, Seq: 0}
	if a.Compare(b) != -1 || b.Compare(a) != 1 || a.Compare(a) != 0 {
		t.Fatal("Compare does not order by milliseconds then sequence")
	}
}

func TestMessageFieldHelpers(t *testing.T) {
	m := &redstream.Message{ID: "1000-0", Fields: redstream.Fields("a", "1", "b", "2", "a", "3", "dangling")}
	if v, ok := m.Get("a"); !ok || v != "1" {
		t.Errorf("Get(a) = %q, %v; want first value 1", v, ok)
	}
	if _, ok := m.Get("missing"); ok {
		t.Error("Get(missing) reported a field")
	}
	if m.Value("dangling") != "" {
		t.Error("a trailing name should get the empty value")
	}
	if want := map[string]string{"a": "1", "b": "2", "dangling": ""}; !reflect.DeepEqual(m.Map(), want) {
		t.Errorf("Map() = %v, want %v", m.Map(), want)
	}
	if m.Time().UnixMilli() != 1000 {
		t.Errorf("Time() = %v, want 1000ms after the epoch", m.Time())
	}
	got := redstream.FieldsFromMap(map[string]string{"z": "1", "a": "2"})
	if want := redstream.Fields("a", "2", "z", "1"); !reflect.DeepEqual(got, want) {
		t.Errorf("FieldsFromMap = %v, want %v (sorted by name)", got, want)
	}
}
