package main

import (
	"strings"
	"testing"
	"time"
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

func TestTopRates(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	seedGroup(t, c, 1, 0)
	bg := startCLI(t, nil, "top", "--redis", srv.URL(), "--stream", "st", "--interval", "300ms", "--iterations", "3")
	waitFor(t, 10*time.Second, "the first block", func() bool { return strings.Contains(bg.stdout.String(), "added -") })
	// Between two refreshes: 30 added, 20 delivered, 5 of them acked.
	for range 30 {
		if err := do(t, c, "XADD", "st", "*", "k", "v").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XREADGROUP", "GROUP", "g", "w", "COUNT", "21", "STREAMS", "st", ">").Error(); err != nil {
		t.Fatal(err)
	}
	es := entries(t, c, "st")
	if err := do(t, c, append([]string{"XACK", "st", "g"}, es[0].ID, es[1].ID, es[2].ID, es[3].ID, es[4].ID, es[5].ID)...).Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-bg.done:
		bg.done <- 0
	case <-time.After(20 * time.Second):
		t.Fatal("top --iterations 3 did not stop")
	}
	out := bg.stdout.String()
	// The changes fall between two refreshes, whichever: the sums of the
	// rates times the interval are 30, 21 and 6.
	if !strings.Contains(out, "lag 10, pending 15") {
		t.Errorf("final state not shown:\n%s", out)
	}
	if !rateSeen(out, "added") || !rateSeen(out, "delivered") || !rateSeen(out, "acked") {
		t.Errorf("no non-zero rates:\n%s", out)
	}
}

// rateSeen reports whether out shows a non-zero rate of the kind.
func rateSeen(out, kind string) bool {
	for _, f := range strings.Split(out, ", ") {
		if v, ok := strings.CutPrefix(f, kind+" "); ok && v != "-" && !strings.HasPrefix(v, "0.0/s") {
			return true
		}
	}
	return false
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
	code := a.execute(ctxT(t, time.Minute), []string{"top", "--redis", srv.URL(), "--iterations", "2", "--interval", "50ms"})
	if code != exitOK {
		t.Fatalf("top exit %d\n%s", code, errb.String())
	}
	s := out.String()
	if strings.Count(s, ansiHome) != 2 || !strings.HasPrefix(s, ansiHome) || strings.Count(s, "Ctrl-C quits") != 2 {
		t.Errorf("top on a terminal does not redraw each frame in place:\n%q", s)
	}
}
