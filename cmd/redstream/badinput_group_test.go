package main

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// group create and consume --from refuse a start beyond the stream's last
// entry, as group setid does: the group would skip every entry added
// until the clock reaches it while its lag shows 0.
func TestCreateRefusesStartBeyondLastEntry(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	if err := do(t, c, "XADD", "s", "*", "k", "v").Error(); err != nil {
		t.Fatal(err)
	}
	const future = "99999999999999-0"
	groups := func() string { return fmt.Sprint(do(t, c, "XINFO", "GROUPS", "s").ToAny()) }

	r := cli(t, nil, "group", "create", "--redis", url, "--stream", "s", "--group", "ahead", "--start", future)
	if r.code != exitUsage {
		t.Errorf("group create --start %s: exit %d, want %d (refused)\n%s", future, r.code, exitUsage, r)
	} else {
		wantOneErrorLine(t, r, future)
	}

	b := startCLI(t, nil, "consume", "--redis", url, "--stream", "s", "--group", "ahead2", "--from", future)
	waitFor(t, 30*time.Second, "consume to refuse --from or to create the group", func() bool {
		return len(b.done) > 0 || strings.Contains(groups(), "ahead2")
	})
	r = b.stop(t)
	if r.code != exitUsage {
		t.Errorf("consume --from %s: exit %d, want %d (refused)\n%s", future, r.code, exitUsage, r)
	}
	if g := groups(); strings.Contains(g, "ahead") {
		t.Errorf("a group was created beyond the last entry: %s", g)
	}
}

// group create says what a group created at the end of a stream that
// holds entries does not deliver, as consume --from $ does; and its
// default start does not silently skip them.
func TestGroupCreateAtEndSaysWhatIsSkipped(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	for i := 0; i < 3; i++ {
		if err := do(t, c, "XADD", "s", "*", "k", strconv.Itoa(i)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	r := cli(t, nil, "group", "create", "--redis", url, "--stream", "s", "--group", "end", "--start", "$")
	if r.code != exitOK {
		t.Fatalf("group create --start $:\n%s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "3 existing entries") {
		t.Errorf("group create --start $ on a stream of 3 entries does not say they are not delivered:\n%s", r)
	}

	r = cli(t, nil, "group", "create", "--redis", url, "--stream", "s", "--group", "dflt")
	if r.code != exitOK {
		t.Fatalf("group create:\n%s", r)
	}
	lag := int64(-1)
	gs, err := do(t, c, "XINFO", "GROUPS", "s").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs {
		m, err := g.AsMap()
		if err != nil {
			t.Fatal(err)
		}
		name, lagMsg := m["name"], m["lag"]
		if n, _ := name.ToString(); n == "dflt" {
			lag, _ = lagMsg.AsInt64()
		}
	}
	if lag != 3 && !strings.Contains(r.stdout+r.stderr, "3 existing entries") {
		t.Errorf("group create without --start skips the 3 entries already there (lag %d) without saying so:\n%s", lag, r)
	}
}

// top reports a missing ACL permission as every other command does: a
// "permission denied" line naming the command and the key, with the
// hint where the ACL lines are.
func TestTopNoPermissionIsDescribed(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	for _, cmd := range [][]string{
		{"XADD", "orders", "*", "k", "v"},
		{"ACL", "SETUSER", "nokeys", "reset", "on", ">pw", "+@all"},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
	}
	url := "redis://nokeys:pw@" + srv.Addr()
	r := cli(t, nil, "info", "--redis", url, "--stream", "orders")
	if r.code != exitFailure {
		t.Fatalf("info as a user without keys: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "permission denied", "orders", "ACL SETUSER")

	r = cli(t, nil, "top", "--redis", url, "--stream", "orders", "--iterations", "1")
	if r.code != exitFailure {
		t.Fatalf("top as a user without keys: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "permission denied", "orders", "ACL SETUSER")
}
