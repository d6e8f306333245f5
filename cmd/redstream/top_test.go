package main

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestTopPlainBlocks(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	seedGroup(t, c, 10, 4)
	if err := do(t, c, "XGROUP", "CREATE", "st", "audit", "$").Error(); err != nil {
		t.Fatal(err)
	}
	if err := do(t, c, "XADD", "other", "*", "k", "v").Error(); err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "top", "--redis", srv.URL(), "--iterations", "2", "--interval", "200ms")
	if r.code != exitOK {
		t.Fatalf("top:\n%s", r)
	}
	if strings.Contains(r.stdout, "\x1b") {
		t.Errorf("top wrote escape codes to a non-terminal:\n%q", r.stdout)
	}
	if n := strings.Count(r.stdout, "redstream top: 2 streams at "); n != 2 {
		t.Errorf("%d blocks, want 2:\n%s", n, r)
	}
	blocks := strings.SplitN(r.stdout, "\nredstream top:", 2)
	if len(blocks) != 2 || !strings.Contains(blocks[0], "added -,") || !strings.Contains(blocks[1], "added 0.0/s") ||
		!strings.Contains(blocks[1], "group g: lag 6, pending 4") || !strings.Contains(blocks[1], "delivered 0.0/s, acked 0.0/s") {
		t.Errorf("first block has no rates, the second has them:\n%s", r)
	}
	golden(t, "top-plain", r.stdout)

	// --stream names streams; a missing one is said so.
	r = cli(t, nil, "top", "--redis", srv.URL(), "--iterations", "1", "--stream", "other", "--stream", "gone")
	if r.code != exitOK || !strings.Contains(r.stdout, "stream other: length 1") || !strings.Contains(r.stdout, "stream gone does not exist") {
		t.Errorf("top --stream:\n%s", r)
	}
	r = cli(t, nil, "top", "--redis", srv.URL(), "--iterations", "1", "--match", "nothing*")
	if r.code != exitOK || !strings.Contains(r.stdout, `no streams match "nothing*"`) {
		t.Errorf("top --match with no match:\n%s", r)
	}
}

// TestTopRates drives top's refreshes itself and changes the stream only
// between two of them, so the changes are known: each rate must be that
// change divided by the time between the two readings, as top reports it
// ("rates over"), however long the test or the server took.
func TestTopRates(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	seedGroup(t, c, 1, 0)
	ticks := make(chan time.Time)
	var out, errb lockedBuffer
	a := newApp(fakeEnv(nil), nil, &out, &errb)
	a.topTicks = ticks
	done := make(chan int, 1)
	go func() {
		done <- a.execute(ctxT(t, 2*time.Minute), []string{"top", "--redis", srv.URL(), "--stream", "st", "--iterations", "3"})
	}()
	var shown time.Time // when the test saw the last refresh
	block := func(n int) string {
		t.Helper()
		waitFor(t, 30*time.Second, fmt.Sprintf("refresh %d", n), func() bool {
			return strings.Count(out.String(), "redstream top: ") >= n
		})
		shown = time.Now()
		return strings.Split(out.String(), "redstream top: ")[n]
	}
	refresh := func() {
		t.Helper()
		// Not a synchronisation: readings at least 200ms apart make the
		// millisecond to which top rounds "rates over" a small error.
		time.Sleep(time.Until(shown.Add(200 * time.Millisecond)))
		select {
		case ticks <- time.Now():
		case code := <-done:
			t.Fatalf("top ended (exit %d) before the next refresh:\n%s\n%s", code, out.String(), errb.String())
		case <-time.After(30 * time.Second):
			t.Fatal("top did not take the next refresh within 30s")
		}
	}
	xadd := func(n int) {
		t.Helper()
		for range n {
			if err := do(t, c, "XADD", "st", "*", "k", "v").Error(); err != nil {
				t.Fatal(err)
			}
		}
	}
	read := func(n int) {
		t.Helper()
		if err := do(t, c, "XREADGROUP", "GROUP", "g", "w", "COUNT", strconv.Itoa(n), "STREAMS", "st", ">").Error(); err != nil {
			t.Fatal(err)
		}
	}
	ack := func(es []rueidis.XRangeSlice) {
		t.Helper()
		args := []string{"XACK", "st", "g"}
		for _, e := range es {
			args = append(args, e.ID)
		}
		if err := do(t, c, args...).Error(); err != nil {
			t.Fatal(err)
		}
	}

	if b := block(1); !strings.Contains(b, "length 1, added -,") || !strings.Contains(b, "group g: lag 1, pending 0, delivered -, acked -") {
		t.Fatalf("first refresh: want the seeded state and no rates:\n%s", b)
	}
	// 30 added, 21 delivered, 6 of them acked.
	xadd(30)
	read(21)
	es := entries(t, c, "st")
	ack(es[:6])
	refresh()
	wantRates(t, block(2), 31, 10, 15, 30, 21, 6)
	// Then 10 added, 4 delivered, 2 acked: the rates are since the
	// previous refresh, not since the first.
	xadd(10)
	read(4)
	ack(es[6:8])
	refresh()
	wantRates(t, block(3), 41, 16, 17, 10, 4, 2)

	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("top exit %d\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("top --iterations 3 did not stop after 3 refreshes")
	}
}

var (
	topStreamLine = regexp.MustCompile(`(?m)^stream st: length (\d+), added (\S+), memory .+, dead letters \d+, scheduled \d+, rates over (\S+)$`)
	topGroupLine  = regexp.MustCompile(`(?m)^  group g: lag (\d+), pending (\d+)(?: \(oldest \S+\))?, delivered (\S+), acked (\S+)$`)
)

// wantRates checks that a block of top shows stream st with length and
// group g with lag and pending, and the rates of added, delivered and
// acked entries over the time between the readings the block reports.
func wantRates(t *testing.T, block string, length, lag, pending, added, delivered, acked int) {
	t.Helper()
	sm, gm := topStreamLine.FindStringSubmatch(block), topGroupLine.FindStringSubmatch(block)
	if sm == nil || gm == nil {
		t.Fatalf("no rates for st and group g in:\n%s", block)
	}
	if sm[1] != strconv.Itoa(length) || gm[1] != strconv.Itoa(lag) || gm[2] != strconv.Itoa(pending) {
		t.Errorf("state shown: length %s, lag %s, pending %s; want %d, %d, %d\n%s", sm[1], gm[1], gm[2], length, lag, pending, block)
	}
	span, err := time.ParseDuration(sm[3])
	if err != nil {
		t.Fatalf("rates over %q: %v\n%s", sm[3], err, block)
	}
	for _, r := range []struct {
		kind, shown string
		delta       int
	}{{"added", sm[2], added}, {"delivered", gm[3], delivered}, {"acked", gm[4], acked}} {
		if !rateMatches(r.shown, r.delta, span) {
			t.Errorf("%s %s over %v, want %d entries over that time\n%s", r.kind, r.shown, span, r.delta, block)
		}
	}
}

// rateMatches reports whether shown ("12.3/s") is delta entries over span
// as top prints them: span rounded to the millisecond, the rate to 0.1/s.
func rateMatches(shown string, delta int, span time.Duration) bool {
	num, ok := strings.CutSuffix(shown, "/s")
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil {
		return false
	}
	lo, hi := 0.0, math.Inf(1)
	if longest := (span + time.Millisecond/2).Seconds(); longest > 0 {
		lo = float64(delta) / longest
	}
	if shortest := (span - time.Millisecond/2).Seconds(); shortest > 0 {
		hi = float64(delta) / shortest
	}
	if delta == 0 {
		hi = 0
	}
	const rounding = 0.05 + 1e-9
	return v >= lo-rounding && v <= hi+rounding
}

func TestTopTerminalRedraws(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "XADD", "st", "*", "k", "v").Error(); err != nil {
		t.Fatal(err)
	}
	var out, errb lockedBuffer
	a := newApp(fakeEnv(nil), nil, &out, &errb)
	a.outTTY = true // as if stdout were a terminal
	code := a.execute(ctxT(t, time.Minute), []string{"top", "--redis", srv.URL(), "--iterations", "2", "--interval", "100ms"})
	if code != exitOK {
		t.Fatalf("top exit %d\n%s", code, errb.String())
	}
	s := out.String()
	if strings.Count(s, ansiHome) != 2 || !strings.HasPrefix(s, ansiHome) || strings.Count(s, "Ctrl-C quits") != 2 {
		t.Errorf("top on a terminal does not redraw each frame in place:\n%q", s)
	}
}
