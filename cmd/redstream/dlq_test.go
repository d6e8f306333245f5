package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// withDeadLetters makes n dead letters of stream "orders" on a fresh
// server by running a consumer whose handler fails permanently.
func withDeadLetters(t *testing.T, n int) (url string, ids []string) {
	t.Helper()
	return deadLettersUnder(t, n, redstream.DefaultDeadLetterSuffix)
}

// deadLettersUnder is withDeadLetters for a consumer that keeps its dead
// letters in "orders"+suffix; ids are their IDs there.
func deadLettersUnder(t *testing.T, n int, suffix string) (url string, ids []string) {
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
	}), redstream.StartID("0"), redstream.Name("biller"), redstream.DeadLetterSuffix(suffix))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "dead letters", func() bool { return cons.Stats().DeadLettered == int64(n) })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for _, e := range entries(t, c, "orders"+suffix) {
		ids = append(ids, e.ID)
	}
	if len(ids) != n {
		t.Fatalf("%d entries in orders%s, want %d dead letters", len(ids), suffix, n)
	}
	return srv.URL(), ids
}

// TestDeadSuffix: with --dead-suffix :poison, info, dlq, top and the
// metrics of consume find the dead letters that a consumer with
// DeadLetterSuffix(":poison") wrote to orders:poison; orders:dead stays
// empty, and without the flag the commands look there.
func TestDeadSuffix(t *testing.T) {
	t.Parallel()
	url, ids := deadLettersUnder(t, 3, ":poison")
	c := client(t, url)
	noDefaultDead := func() {
		t.Helper()
		if n, err := do(t, c, "EXISTS", "orders:dead").AsInt64(); err != nil || n != 0 {
			t.Fatalf("orders:dead exists (%d, %v): dead letters went to the default stream", n, err)
		}
	}
	noDefaultDead()
	poison := func(args ...string) result {
		t.Helper()
		return cli(t, nil, append(args, "--redis", url, "--dead-suffix", ":poison")...)
	}
	plain := func(args ...string) result {
		t.Helper()
		return cli(t, nil, append(args, "--redis", url)...)
	}
	wantOut := func(r result, what string, want ...string) {
		t.Helper()
		if r.code != exitOK {
			t.Fatalf("%s:\n%s", what, r)
		}
		for _, w := range want {
			if !regexp.MustCompile(w).MatchString(r.stdout) {
				t.Errorf("%s: stdout does not match %s:\n%s", what, w, r)
			}
		}
	}

	wantOut(poison("info", "--stream", "orders"), "info --dead-suffix", `(?m)^dead letters +3 in orders:poison$`)
	r := poison("info", "--stream", "orders", "--json")
	var info redstream.StreamInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || info.DeadLetterStream != "orders:poison" || info.DeadLetters != 3 {
		t.Errorf("info --json --dead-suffix: %s, %d dead letters (%v)\n%s", info.DeadLetterStream, info.DeadLetters, err, r)
	}
	wantOut(plain("info", "--stream", "orders"), "info", `(?m)^dead letters +0 in orders:dead$`)

	r = poison("dlq", "list", "--stream", "orders")
	wantOut(r, "dlq list --dead-suffix", `(?m)^orders:poison: 3 dead letters$`)
	for _, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Errorf("dlq list --dead-suffix does not list %s:\n%s", id, r)
		}
	}
	if n := strings.Count(r.stdout, "card declined for order"); n != 3 {
		t.Errorf("dlq list --dead-suffix shows %d dead letters, want 3:\n%s", n, r)
	}
	wantOut(plain("dlq", "list", "--stream", "orders"), "dlq list", `(?m)^orders:dead: 0 dead letters$`)
	wantOut(poison("dlq", "list", "--stream", "orders", "--dead", "other"), "dlq list --dead", `(?m)^other: 0 dead letters$`)

	wantOut(poison("top", "--stream", "orders", "--iterations", "1"), "top --dead-suffix", `(?m)^stream orders: length 3, added -, memory .+, dead letters 3, scheduled 0$`)
	wantOut(plain("top", "--stream", "orders", "--iterations", "1"), "top", `(?m)^stream orders: .+, dead letters 0, scheduled 0$`)

	addr := closedPort(t)
	bg := startCLI(t, nil, "consume", "--redis", url, "--dead-suffix", ":poison", "--stream", "orders", "--group", "audit", "--metrics-addr", addr)
	var text string
	waitFor(t, 10*time.Second, "the metrics of consume", func() bool {
		text = scrape(t, addr)
		_, ok := sample(text, "redstream_dead_letters", `stream="orders"`)
		return ok
	})
	if v, _ := sample(text, "redstream_dead_letters", `stream="orders"`); v != 3 {
		t.Errorf("consume --dead-suffix: redstream_dead_letters{stream=\"orders\"} = %v, want 3\n%s", v, text)
	}
	if r := bg.stop(t); r.code != exitOK {
		t.Fatalf("consume --dead-suffix:\n%s", r)
	}

	wantOut(poison("dlq", "replay", "--stream", "orders", "--all"), "dlq replay --dead-suffix", `(?m)^replayed 3 dead letters from orders:poison to orders$`)
	if n := len(entries(t, c, "orders:poison")); n != 0 {
		t.Errorf("%d dead letters left in orders:poison after replaying all", n)
	}
	noDefaultDead()
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
