package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestTailFromHistory(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	publishN(t, c, srv.URL(), "st", 5)
	es := entries(t, c, "st")

	r := cli(t, nil, "tail", "--redis", srv.URL(), "--stream", "st", "--from", "0", "--count", "3")
	if r.code != exitOK {
		t.Fatalf("tail --from 0 --count 3:\n%s", r)
	}
	want := es[0].ID + " seq=1 kind=test\n" + es[1].ID + " seq=2 kind=test\n" + es[2].ID + " seq=3 kind=test\n"
	if r.stdout != want {
		t.Errorf("tail printed\n%s\nwant\n%s", r.stdout, want)
	}

	// --from ID starts after that ID; --json is consume's format.
	r = cli(t, nil, "tail", "--redis", srv.URL(), "--stream", "st", "--from", es[2].ID, "--count", "2", "--json")
	if r.code != exitOK {
		t.Fatalf("tail --json:\n%s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("tail --json printed %d lines:\n%s", len(lines), r)
	}
	var e jsonEntry
	dec := json.NewDecoder(strings.NewReader(lines[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.ID != es[3].ID || e.Stream != "st" || e.Value("seq") != "4" {
		t.Errorf("first line %s: %+v, %v", lines[0], e, err)
	}
	// tail joins no group.
	if err := do(t, c, "XINFO", "GROUPS", "st").Error(); err != nil {
		t.Fatal(err)
	}
	if arr, _ := do(t, c, "XINFO", "GROUPS", "st").ToArray(); len(arr) != 0 {
		t.Errorf("tail created %d groups", len(arr))
	}
}

func TestTailFollowsNewEntries(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	publishN(t, c, srv.URL(), "st", 3) // history tail does not print

	bg := startCLI(t, nil, "tail", "--redis", srv.URL(), "--stream", "st", "--count", "4")
	waitForXread(t, c)
	for _, v := range []string{"a", "b", "c", "d", "e"} {
		if err := do(t, c, "XADD", "st", "*", "v", v).Error(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case code := <-bg.done:
		bg.done <- code
		if code != exitOK {
			t.Fatalf("tail exit %d\n%s", code, bg.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("tail --count 4 did not stop after 4 new entries:\n%s", bg.stdout)
	}
	out := bg.stdout.String()
	var vals []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		_, f, _ := strings.Cut(line, " ")
		vals = append(vals, f)
	}
	if strings.Join(vals, ",") != "v=a,v=b,v=c,v=d" {
		t.Errorf("tail printed %q, want the 4 new entries", out)
	}
}

func TestTailStopsOnInterrupt(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	bg := startCLI(t, nil, "tail", "--redis", srv.URL(), "--stream", "not-yet")
	// Stop it while it waits in XREAD for the stream to appear.
	waitForXread(t, c)
	start := time.Now()
	r := bg.stop(t)
	if r.code != exitOK || r.stderr != "" {
		t.Errorf("tail stopped by Ctrl-C:\n%s", r)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("tail took %v to stop", d)
	}
}

func TestTailKeyOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "SET", "str", "x").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "tail", "--redis", srv.URL(), "--stream", "str", "--from", "0")
	if r.code != exitFailure {
		t.Fatalf("exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "key str is not a stream")
}

// waitForXread waits until a client of c's server (tail's) waits in
// XREAD, and fails the test if none gets there.
func waitForXread(t *testing.T, c rueidis.Client) {
	t.Helper()
	waitFor(t, 10*time.Second, "tail to block in XREAD", func() bool {
		return xreadClients(t, c) > 0
	})
}

// xreadClients returns how many clients of c's server last ran XREAD
// (tail's, while it waits for entries).
func xreadClients(t *testing.T, c rueidis.Client) int {
	t.Helper()
	s, err := do(t, c, "CLIENT", "LIST").ToString()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	return strings.Count(s, " cmd=xread ")
}
