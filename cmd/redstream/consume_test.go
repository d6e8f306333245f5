package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/redstream-go/redstream"
)

// jsonEntry is one line of consume --json: the members of
// redstream.Message's json tags.
type jsonEntry = redstream.Message

// publishN publishes n entries with the CLI and returns their IDs with
// their sequence numbers.
func publishN(t *testing.T, c rueidis.Client, url, stream string, n int) map[string]int {
	t.Helper()
	r := cli(t, nil, "publish", "--redis", url, "--stream", stream, "--count", fmt.Sprint(n), "seq={{seq}}", "kind=test")
	if r.code != exitOK {
		t.Fatalf("publish:\n%s", r)
	}
	ids := map[string]int{}
	for i, e := range entries(t, c, stream) {
		ids[e.ID] = i + 1
	}
	return ids
}

func TestConsumeMaxJSON(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	const n = 25
	ids := publishN(t, c, srv.URL(), "jobs", n)

	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "jobs", "--group", "workers", "--from", "0", "--max", fmt.Sprint(n), "--json")
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), n, r)
	}
	seen := map[string]bool{}
	for _, line := range lines {
		var e jsonEntry
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not a JSON entry: %v", line, err)
		}
		seq, ok := ids[e.ID]
		if !ok || seen[e.ID] {
			t.Fatalf("line %q: unknown or repeated ID", line)
		}
		seen[e.ID] = true
		if e.Stream != "jobs" || e.Deliveries != 1 || e.Value("seq") != fmt.Sprint(seq) || e.Value("kind") != "test" || len(e.Fields) != 2 {
			t.Errorf("line %q does not describe entry %s (seq %d)", line, e.ID, seq)
		}
		if !strings.Contains(line, `"fields":[{"name":"seq","value":`) {
			t.Errorf("line %q: fields are not in the entry's order", line)
		}
	}
	if p := pendingCount(t, c, "jobs", "workers"); p != 0 {
		t.Errorf("%d entries pending after consume --max, want 0", p)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("handled and acknowledged %d entries", n)) {
		t.Errorf("stderr does not report the count:\n%s", r)
	}
}

func TestConsumeTextInStreamOrder(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	for _, fields := range [][]string{{"a", "1", "b", "two words"}, {"empty", "", "eq", "x=y"}, {"q", `say "hi"`}} {
		if err := do(t, c, append([]string{"XADD", "text", "*"}, fields...)...).Error(); err != nil {
			t.Fatal(err)
		}
	}
	es := entries(t, c, "text")
	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "text", "--group", "g", "--from", "0", "--max", "3", "--concurrency", "1", "--consumer", "reader")
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	want := es[0].ID + ` a=1 b="two words"` + "\n" +
		es[1].ID + ` empty="" eq="x=y"` + "\n" +
		es[2].ID + ` q="say \"hi\""` + "\n"
	if r.stdout != want {
		t.Errorf("stdout =\n%s\nwant\n%s", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "as consumer reader") {
		t.Errorf("stderr does not name the consumer:\n%s", r)
	}
}

// TestConsumeStopsGracefullyOnSignal runs consume until its context ends,
// as SIGINT ends it, and checks that everything printed was acknowledged.
func TestConsumeStopsGracefullyOnSignal(t *testing.T) {
	srv := startRedis(t)
	c := client(t, srv.URL())
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	bg := startCLI(t, nil, "consume", "--redis", srv.URL(), "--stream", "live", "--group", "g", "--json")
	waitFor(t, 10*time.Second, "the group", func() bool {
		return do(t, c, "XINFO", "GROUPS", "live").Error() == nil
	})
	ids := publishN(t, c, srv.URL(), "live", 100)
	waitFor(t, 30*time.Second, "100 printed entries", func() bool {
		return strings.Count(bg.stdout.String(), "\n") >= 100
	})
	r := bg.stop(t)
	if r.code != exitOK {
		t.Fatalf("consume stopped by its context:\n%s", r)
	}
	if got := strings.Count(r.stdout, "\n"); got != len(ids) {
		t.Errorf("printed %d entries, want %d", got, len(ids))
	}
	if p := pendingCount(t, c, "live", "g"); p != 0 {
		t.Errorf("%d entries pending after a graceful stop, want 0", p)
	}
}

// TestConsumeMaxLeavesTheRestPending: entries read past --max are not
// printed; they stay pending for the consumer, never lost, and the next
// run of that consumer prints them: every entry exactly once overall.
func TestConsumeMaxLeavesTheRestPending(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	ids := publishN(t, c, srv.URL(), "many", 50)
	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "many", "--group", "g", "--from", "0", "--max", "10", "--consumer", "c1")
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	if got := strings.Count(r.stdout, "\n"); got != 10 {
		t.Errorf("printed %d entries, want 10:\n%s", got, r)
	}
	// What was read but not printed is pending, all of it for c1, as
	// many as consume said it left.
	var left int64
	if m := regexp.MustCompile(`; (\d+) entr(y|ies) it read stays? pending for it`).FindStringSubmatch(r.stderr); m != nil {
		left, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if p := pendingCount(t, c, "many", "g"); p != left {
		t.Errorf("%d entries pending after the first run, which said it left %d:\n%s", p, left, r)
	}
	if p := consumerPending(t, c, "many", "g", "c1"); p != left {
		t.Errorf("%d entries pending for c1, want %d", p, left)
	}
	// The next run of c1 prints them, and everything else.
	r2 := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "many", "--group", "g", "--max", "40", "--consumer", "c1")
	if r2.code != exitOK {
		t.Fatalf("second consume:\n%s", r2)
	}
	printed := map[string]int{}
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout+r2.stdout, "\n"), "\n") {
		id, _, _ := strings.Cut(line, " ")
		printed[id]++
	}
	for id, n := range printed {
		if _, ok := ids[id]; !ok || n != 1 {
			t.Errorf("entry %q printed %d times over both runs, want a published ID printed once", id, n)
		}
	}
	for id := range ids {
		if printed[id] == 0 {
			t.Errorf("published entry %s never printed", id)
		}
	}
	if p := pendingCount(t, c, "many", "g"); p != 0 {
		t.Errorf("%d entries pending, want 0", p)
	}
}

// consumerPending returns how many entries of group are pending for
// consumer, from the XPENDING summary.
func consumerPending(t *testing.T, c rueidis.Client, stream, group, consumer string) int64 {
	t.Helper()
	arr, err := do(t, c, "XPENDING", stream, group).ToArray()
	if err != nil || len(arr) != 4 {
		t.Fatalf("XPENDING %s %s: %v", stream, group, err)
	}
	rows, _ := arr[3].ToArray() // nil when nothing is pending
	for _, row := range rows {
		kv, err := row.ToArray()
		if err != nil || len(kv) != 2 {
			t.Fatalf("XPENDING consumer row: %v", err)
		}
		if name, _ := kv[0].ToString(); name == consumer {
			s, _ := kv[1].ToString()
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("XPENDING count %q of %s: %v", s, consumer, err)
			}
			return n
		}
	}
	return 0
}

func TestConsumeKeyOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "SADD", "aset", "x").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "aset", "--group", "g", "--max", "1")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "redstream: ") || !strings.Contains(last, "key aset is not a stream") {
		t.Errorf("last stderr line %q, want a not-a-stream error\n%s", last, r)
	}
}
