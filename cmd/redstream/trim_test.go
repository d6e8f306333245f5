package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestTrimAckedKeepsWhatGroupsNeed(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	var ids []string
	for i := range 10 {
		id, err := do(t, c, "XADD", "st", "*", "n", strconv.Itoa(i+1)).ToString()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// g1 read 6 and acknowledged the first 3: entries 4-6 are pending.
	// g2 read and acknowledged 8.
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "st", "g1", "0"},
		{"XREADGROUP", "GROUP", "g1", "alice", "COUNT", "6", "STREAMS", "st", ">"},
		{"XACK", "st", "g1", ids[0], ids[1], ids[2]},
		{"XGROUP", "CREATE", "st", "g2", "0"},
		{"XREADGROUP", "GROUP", "g2", "bob", "COUNT", "8", "STREAMS", "st", ">"},
		append([]string{"XACK", "st", "g2"}, ids[:8]...),
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}

	// The dry run removes nothing.
	r := cli(t, nil, "trim", "--redis", url, "--stream", "st", "--acked")
	if r.code != exitOK {
		t.Fatalf("trim --acked:\n%s", r)
	}
	for _, want := range []string{"would remove 3 entries: the IDs below " + ids[3], "why: group g1 still has " + ids[3] + " pending", "dry run: pass --yes to trim"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run does not say %q:\n%s", want, r)
		}
	}
	if n := len(entries(t, c, "st")); n != 10 {
		t.Fatalf("the dry run trimmed: %d entries left", n)
	}
	golden(t, "trim-dry-run", r.stdout)

	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--acked", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "removed 3 entries from stream st\n") {
		t.Fatalf("trim --acked --yes:\n%s", r)
	}
	left := entries(t, c, "st")
	if len(left) != 7 || left[0].ID != ids[3] {
		t.Fatalf("after trim --acked --yes: %d entries from %s, want 7 from %s", len(left), left[0].ID, ids[3])
	}
	if p := pendingCount(t, c, "st", "g1"); p != 3 {
		t.Errorf("g1 pending %d, want 3", p)
	}

	// g1 acknowledges everything but g2 has not read the last 2: those stay.
	if err := do(t, c, "XACK", "st", "g1", ids[3], ids[4], ids[5]).Error(); err != nil {
		t.Fatal(err)
	}
	if err := do(t, c, "XREADGROUP", "GROUP", "g1", "alice", "COUNT", "10", "STREAMS", "st", ">").Error(); err != nil {
		t.Fatal(err)
	}
	if err := do(t, c, "XACK", "st", "g1", ids[6], ids[7], ids[8], ids[9]).Error(); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--acked", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "removed 5 entries") {
		t.Fatalf("second trim --acked --yes:\n%s", r)
	}
	left = entries(t, c, "st")
	if len(left) != 2 || left[0].ID != ids[8] {
		t.Fatalf("after the second trim: %d entries, want the 2 g2 has not read", len(left))
	}

	// A group that has read nothing keeps everything.
	if err := do(t, c, "XGROUP", "CREATE", "st", "late", "0").Error(); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--acked", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing to trim") {
		t.Fatalf("trim with a group that read nothing:\n%s", r)
	}
	if n := len(entries(t, c, "st")); n != 2 {
		t.Errorf("%d entries left, want 2", n)
	}
}

func TestTrimMaxLenAndNoGroups(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	for i := range 10 {
		if err := do(t, c, "XADD", "st", "*", "n", strconv.Itoa(i)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	r := cli(t, nil, "trim", "--redis", url, "--stream", "st", "--acked", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing to trim: the stream has no consumer groups") {
		t.Fatalf("trim --acked without groups:\n%s", r)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--maxlen", "4")
	if r.code != exitOK || !strings.Contains(r.stdout, "would remove 6 entries") || len(entries(t, c, "st")) != 10 {
		t.Fatalf("trim --maxlen 4 (dry run):\n%s", r)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--maxlen", "4", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "removed 6 entries") || len(entries(t, c, "st")) != 4 {
		t.Fatalf("trim --maxlen 4 --yes:\n%s", r)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "st", "--older-than", "1h", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "nothing to trim") || len(entries(t, c, "st")) != 4 {
		t.Fatalf("trim --older-than 1h:\n%s", r)
	}
	r = cli(t, nil, "trim", "--redis", url, "--stream", "nope", "--maxlen", "1")
	if r.code != exitFailure {
		t.Fatalf("trim a missing stream: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream nope does not exist")
}
