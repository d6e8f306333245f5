package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

var scheduledLine = regexp.MustCompile(`^scheduled ([0-9a-f]{16}) for orders\n$`)

func TestPublishScheduledThenListCancelInfoAndTop(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()

	r := cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--in", "1h", "item=later")
	m := scheduledLine.FindStringSubmatch(r.stdout)
	if r.code != exitOK || m == nil {
		t.Fatalf("publish --in should print the scheduled ID:\n%s", r)
	}
	first := m[1]
	r = cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--at", "2030-12-24T18:00:00Z", "--count", "3", "n={{seq}}")
	if r.code != exitOK || r.stdout != "scheduled 3 entries for orders\n" {
		t.Fatalf("publish --at --count 3:\n%s", r)
	}
	if es := entries(t, c, "orders"); len(es) != 0 {
		t.Fatalf("scheduled entries were appended at once: %v", es)
	}

	r = cli(t, nil, "scheduled", "list", "--redis", url, "--stream", "orders")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "orders: 4 scheduled entries listed\n") ||
		!strings.Contains(r.stdout, first) || !strings.Contains(r.stdout, "item=later") || !strings.Contains(r.stdout, "2030-12-24T18:00:00Z") {
		t.Fatalf("scheduled list:\n%s", r)
	}
	r = cli(t, nil, "scheduled", "list", "--redis", url, "--stream", "orders", "--json", "--count", "1")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 1 || !strings.Contains(r.stdout, `"id":"`+first+`"`) {
		t.Fatalf("scheduled list --json --count 1:\n%s", r)
	}

	// info and top need the stream to exist.
	if _, err := redstream.NewPublisher(c); err != nil {
		t.Fatal(err)
	}
	do(t, c, "XADD", "orders", "*", "now", "1")
	r = cli(t, nil, "info", "--redis", url, "--stream", "orders")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^scheduled +4, next due \S+\n`).MatchString(r.stdout) {
		t.Fatalf("info should show 4 scheduled:\n%s", r)
	}
	r = cli(t, nil, "info", "--redis", url, "--stream", "orders", "--json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"scheduled": 4`) {
		t.Fatalf("info --json should show 4 scheduled:\n%s", r)
	}
	bg := startCLI(t, nil, "top", "--redis", url, "--stream", "orders", "--interval", "100ms")
	waitFor(t, 10*time.Second, "top to show the scheduled count", func() bool {
		return strings.Contains(bg.stdout.String(), "dead letters 0, scheduled 4")
	})
	bg.stop(t)

	r = cli(t, nil, "scheduled", "cancel", "--redis", url, "--stream", "orders", "--id", first)
	if r.code != exitOK || r.stdout != "cancelled "+first+"\n" {
		t.Fatalf("scheduled cancel:\n%s", r)
	}
	r = cli(t, nil, "scheduled", "cancel", "--redis", url, "--stream", "orders", "--id", first)
	if r.code != exitFailure {
		t.Fatalf("cancel twice should fail with exit 1:\n%s", r)
	}
	wantOneErrorLine(t, r, "not waiting")
	if n, _ := do(t, c, "ZCARD", redstream.ScheduledKey("orders")).AsInt64(); n != 3 {
		t.Fatalf("%d wait after the cancel, want 3", n)
	}
}

func TestPublishScheduledUsageErrors(t *testing.T) {
	t.Parallel()
	url := "redis://" + closedPort(t) // nothing is sent: usage is checked first
	for _, args := range [][]string{
		{"publish", "--redis", url, "--stream", "s", "--in", "-1s", "a=1"},
		{"publish", "--redis", url, "--stream", "s", "--in", "soon", "a=1"},
		{"publish", "--redis", url, "--stream", "s", "--at", "tomorrow", "a=1"},
		{"publish", "--redis", url, "--stream", "s", "--at", "2026-12-24 18:00", "a=1"},
		{"publish", "--redis", url, "--stream", "s", "--in", "1s", "--at", "2026-12-24T18:00:00Z", "a=1"},
		{"publish", "--redis", url, "--stream", "s", "--in", "100000h", "a=1"},
		{"scheduled", "list", "--redis", url},
		{"scheduled", "cancel", "--redis", url, "--stream", "s"},
		{"scheduled", "list", "--redis", url, "--stream", "s", "--count", "0"},
		{"scheduled", "bogus", "--redis", url, "--stream", "s"},
	} {
		r := cli(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d:\n%s", args, r.code, exitUsage, r)
			continue
		}
		wantOneErrorLine(t, r)
	}
}
