package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// withDeadLetters makes n dead letters of stream "orders" on a fresh
// server by running a consumer whose handler fails permanently.
func withDeadLetters(t *testing.T, n int) (url string, ids []string) {
	t.Helper()
	srv := startRedis(t)
	c := client(t, srv.URL())
	for i := range n {
		if err := do(t, c, "XADD", "orders", "*", "order", fmt.Sprint(i)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := redstream.NewConsumer(c, "orders", "billing", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		return redstream.Permanent(errors.New("card declined\nfor order " + m.Value("order")))
	}), redstream.StartID("0"), redstream.Name("biller"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "dead letters", func() bool { return cons.Stats().DeadLettered == int64(n) })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for _, e := range entries(t, c, "orders:dead") {
		ids = append(ids, e.ID)
	}
	return srv.URL(), ids
}

func TestDLQListShowReplayPurge(t *testing.T) {
	t.Parallel()
	url, ids := withDeadLetters(t, 4)

	r := cli(t, nil, "dlq", "list", "--redis", url, "--stream", "orders")
	if r.code != exitOK || !strings.Contains(r.stdout, "orders:dead: 4 dead letters") || strings.Count(r.stdout, "card declined for order") != 4 || !strings.Contains(r.stdout, "biller") {
		t.Fatalf("dlq list:\n%s", r)
	}
	r = cli(t, nil, "dlq", "list", "--redis", url, "--stream", "orders", "--json", "--count", "2")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != exitOK || len(lines) != 2 {
		t.Fatalf("dlq list --json --count 2:\n%s", r)
	}
	var d redstream.DeadLetter
	if err := json.Unmarshal([]byte(lines[0]), &d); err != nil || d.Stream != "orders" || d.Group != "billing" || d.Deliveries != 1 || len(d.Fields) != 1 {
		t.Fatalf("JSON dead letter %+v (%v)", d, err)
	}

	r = cli(t, nil, "dlq", "show", "--redis", url, "--stream", "orders", ids[0])
	if r.code != exitOK || !strings.Contains(r.stdout, "original id") || !strings.Contains(r.stdout, "  order ") {
		t.Fatalf("dlq show:\n%s", r)
	}
	if r := cli(t, nil, "dlq", "show", "--redis", url, "--stream", "orders", "1-1"); r.code != exitFailure {
		t.Fatalf("dlq show of a missing ID:\n%s", r)
	}

	r = cli(t, nil, "dlq", "replay", "--redis", url, "--stream", "orders", "--id", ids[0])
	if r.code != exitOK || !strings.Contains(r.stdout, "replayed 1 dead letters") {
		t.Fatalf("dlq replay --id:\n%s", r)
	}
	r = cli(t, nil, "dlq", "purge", "--redis", url, "--stream", "orders", "--id", ids[1])
	if r.code != exitOK || !strings.Contains(r.stdout, "purged 1 dead letters") {
		t.Fatalf("dlq purge --id:\n%s", r)
	}
	r = cli(t, nil, "dlq", "replay", "--redis", url, "--stream", "orders", "--all")
	if r.code != exitOK || !strings.Contains(r.stdout, "replayed 2 dead letters") {
		t.Fatalf("dlq replay --all:\n%s", r)
	}
	c := client(t, url)
	if n := len(entries(t, c, "orders:dead")); n != 0 {
		t.Fatalf("%d dead letters left after replaying all", n)
	}
	// 4 originals + 3 replayed, the replayed ones with their original fields only.
	all := entries(t, c, "orders")
	if len(all) != 7 {
		t.Fatalf("orders holds %d entries, want 7", len(all))
	}
	for _, e := range all[4:] {
		if len(e.FieldValues) != 1 || e.FieldValues[0].Field != "order" {
			t.Fatalf("replayed entry %s has fields %v", e.ID, e.FieldValues)
		}
	}
}

func TestDLQUsageErrors(t *testing.T) {
	t.Parallel()
	url, _ := withDeadLetters(t, 1)
	for _, args := range [][]string{
		{"dlq", "list"}, // no --stream
		{"dlq", "replay", "--stream", "orders"},
		{"dlq", "replay", "--stream", "orders", "--all", "--id", "1-1"},
		{"dlq", "replay", "--stream", "orders", "--id", "yesterday"},
		{"dlq", "purge", "--stream", "orders", "--all"}, // no --yes
		{"dlq", "show", "--stream", "orders", "not-an-id"},
		{"dlq", "list", "--stream", "orders", "--count", "0"},
	} {
		if r := cli(t, nil, append(args, "--redis", url)...); r.code != exitUsage {
			t.Errorf("%v: want exit 2\n%s", args, r)
		}
	}
	r := cli(t, nil, "dlq", "purge", "--redis", url, "--stream", "orders", "--all", "--yes")
	if r.code != exitOK || !strings.Contains(r.stdout, "purged 1 dead letters") {
		t.Fatalf("purge --all --yes:\n%s", r)
	}
}
