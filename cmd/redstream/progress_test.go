package main

import (
	"bytes"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestBar(t *testing.T) {
	for _, tc := range []struct {
		n, total int64
		want     string
	}{
		{0, 10, "[>         ]"},
		{5, 10, "[=====>    ]"},
		{9, 10, "[=========>]"},
		{10, 10, "[==========]"},
		{0, 0, "[==========]"},
	} {
		if got := bar(tc.n, tc.total, 10); got != tc.want {
			t.Errorf("bar(%d, %d) = %q, want %q", tc.n, tc.total, got, tc.want)
		}
	}
}

func TestProgressPlainPrintsPeriodicLines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		p := startProgress(&buf, false, "tickets", 100, time.Now())
		p.Set(40)
		time.Sleep(progressPlainEvery + time.Millisecond)
		p.Add(20)
		time.Sleep(progressPlainEvery)
		p.Finish()
		p.Finish() // idempotent
		want := "40/100 tickets (40%) after 2s\n60/100 tickets (60%) after 4s\n"
		if got := buf.String(); got != want {
			t.Errorf("output =\n%q\nwant\n%q", got, want)
		}
	})
}

func TestProgressTerminalRedrawsOneLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		p := startProgress(&buf, true, "entries", 1000, time.Now())
		time.Sleep(progressTTYEvery + time.Millisecond)
		p.Set(1000)
		time.Sleep(progressTTYEvery)
		p.Finish()
		out := buf.String()
		if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("a terminal progress bar should end with its only newline: %q", out)
		}
		draws := strings.Split(strings.TrimSuffix(strings.TrimPrefix(out, "\r"), "\n"), "\r")
		if len(draws) != 3 {
			t.Fatalf("want 3 draws (2 ticks and the final one), got %d: %q", len(draws), out)
		}
		if want := "[>                             ]    0/1000 entries   0%  100ms"; draws[0] != want {
			t.Errorf("first draw %q, want %q", draws[0], want)
		}
		if !strings.HasPrefix(draws[2], "[==============================] 1000/1000 entries 100%") {
			t.Errorf("final draw %q", draws[2])
		}
	})
}

func TestRoundDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{1234 * time.Nanosecond, "1µs"},
		{1234567 * time.Nanosecond, "1ms"},
		{1234567890 * time.Nanosecond, "1.23s"},
		{300 * time.Second, "5m0s"},
		{3000 * 100 * time.Millisecond, "5m0s"},
	} {
		if got := roundDuration(tc.in).String(); got != tc.want {
			t.Errorf("roundDuration(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
