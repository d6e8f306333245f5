package main

import (
	"strings"
	"testing"
	"time"
)

// TestConsumeStartsANewGroupAtTheBeginning: without --from, a group that
// consume creates starts at 0, so entries published before it are
// printed, and nothing is said about skipped entries.
func TestConsumeStartsANewGroupAtTheBeginning(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	ids := publishN(t, c, srv.URL(), "early", 4)

	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "early", "--group", "g", "--max", "4")
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	for id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("entry %s published before the group existed was not printed:\n%s", id, r)
		}
	}
	if strings.Contains(r.stderr, "created at the end") {
		t.Errorf("a group created at the beginning reported skipped entries:\n%s", r)
	}
}

// TestConsumeFromEndSaysWhatItSkips: --from '$' on a stream that holds
// entries says on stderr, once, how many it does not deliver.
func TestConsumeFromEndSaysWhatItSkips(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	publishN(t, c, srv.URL(), "late", 3)

	bg := startCLI(t, nil, "consume", "--redis", srv.URL(), "--stream", "late", "--group", "g", "--from", "$")
	waitFor(t, 10*time.Second, "the consumer to join", func() bool { // registered after the note
		rows, err := do(t, c, "XINFO", "CONSUMERS", "late", "g").ToArray()
		return err == nil && len(rows) == 1
	})
	r := bg.stop(t)
	if r.code != exitOK {
		t.Fatalf("consume --from $:\n%s", r)
	}
	const want = "group g created at the end of late: its 3 existing entries are not delivered"
	if n := strings.Count(r.stderr, want); n != 1 {
		t.Errorf("stderr says %q %d times, want once:\n%s", want, n, r)
	}
	if r.stdout != "" {
		t.Errorf("consume --from $ printed entries that existed before:\n%s", r)
	}
}
