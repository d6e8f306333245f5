package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestPending(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	seedGroup(t, c, 8, 3)
	if err := do(t, c, "XREADGROUP", "GROUP", "g", "bob", "COUNT", "2", "STREAMS", "st", ">").Error(); err != nil {
		t.Fatal(err)
	}
	es := entries(t, c, "st")
	// A second delivery of the first entry, to alice again.
	if err := do(t, c, "XCLAIM", "st", "g", "alice", "0", es[0].ID).Error(); err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "pending", "--redis", url, "--stream", "st", "--group", "g")
	if r.code != exitOK {
		t.Fatalf("pending:\n%s", r)
	}
	if !strings.HasPrefix(r.stdout, "group g of stream st: 5 pending\n") || strings.Count(r.stdout, "\n") != 7 {
		t.Errorf("pending output:\n%s", r)
	}
	golden(t, "pending", r.stdout)

	r = cli(t, nil, "pending", "--redis", url, "--stream", "st", "--group", "g", "--consumer", "bob", "--count", "1")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "consumer bob of group g of stream st: 2 pending (showing the oldest 1)\n") ||
		!strings.Contains(r.stdout, es[3].ID+"  bob") {
		t.Errorf("pending --consumer bob --count 1:\n%s", r)
	}

	// Paging: --count above one page still lists everything.
	r = cli(t, nil, "pending", "--redis", url, "--stream", "st", "--group", "g", "--count", "5000", "--json")
	if r.code != exitOK {
		t.Fatalf("pending --json:\n%s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("pending --json printed %d lines, want 5:\n%s", len(lines), r)
	}
	var first struct {
		ID         string `json:"id"`
		Consumer   string `json:"consumer"`
		Idle       int64  `json:"idle_ns"`
		Deliveries int64  `json:"deliveries"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.ID != es[0].ID || first.Consumer != "alice" || first.Deliveries != 2 {
		t.Errorf("first pending entry %+v (%v), want %s of alice delivered twice", first, err, es[0].ID)
	}

	r = cli(t, nil, "pending", "--redis", url, "--stream", "st", "--group", "nope")
	if r.code != exitFailure {
		t.Fatalf("pending of a missing group: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream st has no consumer group nope")
	r = cli(t, nil, "pending", "--redis", url, "--stream", "nope", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("pending of a missing stream: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream nope does not exist")
}
