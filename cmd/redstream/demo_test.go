package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

var consumerLine = regexp.MustCompile(`(?m)^  (demo-consumer-\d+) +(\d+) tickets$`)

// checkDemoOutput checks the demo's summary: one line per consumer whose
// counts add up to tickets, and the seed-style estimate.
func checkDemoOutput(t *testing.T, r result, tickets, consumers int, seedEstimate string) {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("demo failed:\n%s", r)
	}
	lines := consumerLine.FindAllStringSubmatch(r.stdout, -1)
	if len(lines) != consumers {
		t.Fatalf("want %d per-consumer lines, got %d:\n%s", consumers, len(lines), r)
	}
	sum := 0
	for i, l := range lines {
		if l[1] != "demo-consumer-"+strconv.Itoa(i+1) {
			t.Errorf("consumer line %d names %s", i+1, l[1])
		}
		n, _ := strconv.Atoi(l[2])
		sum += n
	}
	if sum != tickets {
		t.Errorf("per-consumer counts add up to %d, want %d:\n%s", sum, tickets, r)
	}
	for _, want := range []string{
		"handled all " + strconv.Itoa(tickets) + " tickets in ",
		"one seed-style consumer (COUNT 2, one at a time) would need ~" + seedEstimate,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout does not say %q:\n%s", want, r)
		}
	}
}

// checkSeedFormat checks that every entry of stream tickets is in the
// seed's exact format and that nothing is left pending.
func checkSeedFormat(t *testing.T, c rueidis.Client, wantLen int) {
	t.Helper()
	es := entries(t, c, demoStream)
	if len(es) != wantLen {
		t.Fatalf("stream %s holds %d entries, want %d", demoStream, len(es), wantLen)
	}
	for _, e := range es {
		fv := e.FieldValues
		if len(fv) != 3 ||
			fv[0].Field != "whatHappened" || fv[0].Value != "ticket received" ||
			fv[1].Field != "ticketID" ||
			fv[2].Field != "ticketData" || fv[2].Value != "some ticket data" {
			t.Fatalf("entry %s is not in the seed's format: %+v", e.ID, fv)
		}
		n, err := strconv.Atoi(fv[1].Value)
		if err != nil || n < 0 || n >= demoTicketIDs || strconv.Itoa(n) != fv[1].Value {
			t.Fatalf("entry %s: ticketID %q is not a decimal integer in [0, %d)", e.ID, fv[1].Value, demoTicketIDs)
		}
	}
	if n := pendingCount(t, c, demoStream, demoGroup); n != 0 {
		t.Errorf("%d entries pending in group %s after the demo", n, demoGroup)
	}
}

func TestDemoEmbedded(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	a := newApp(fakeEnv(nil), nil, &out, &errb)
	checked := false
	a.embeddedDone = func(url string) {
		checkSeedFormat(t, client(t, url), 300)
		checked = true
	}
	code := a.execute(ctxT(t, 2*time.Minute), []string{"demo", "--tickets", "300", "--work", "10ms"})
	r := result{code: code, stdout: out.String(), stderr: errb.String()}
	checkDemoOutput(t, r, 300, 5, "3s")
	if !strings.HasPrefix(r.stdout, demoEmbeddedNote+"\n") {
		t.Errorf("demo without --redis does not say it uses the embedded server:\n%s", r)
	}
	if !checked {
		t.Error("the embedded server's stream was not checked")
	}
	if r.stderr != "" {
		t.Errorf("stderr not empty:\n%s", r)
	}
}

// TestDemoRealServerReruns runs the demo twice on one real server: the
// second run finds the group from the first and still exits 0, counting
// only its own tickets.
func TestDemoRealServerReruns(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "300", "--work", "10ms", "--consumers", "3")
	checkDemoOutput(t, r, 300, 3, "3s")
	if strings.Contains(r.stdout, "embedded") || !strings.Contains(r.stdout, "using Redis at "+srv.URL()) {
		t.Errorf("demo with --redis does not say it uses that server:\n%s", r)
	}
	c := client(t, srv.URL())
	checkSeedFormat(t, c, 300)

	// Again, through REDIS_URL, with other sizes.
	r = cliEnv(t, map[string]string{"REDIS_URL": srv.URL()}, nil, "demo", "--tickets", "200", "--work", "1ms", "--concurrency", "7")
	checkDemoOutput(t, r, 200, 5, "200ms")
	if !strings.Contains(r.stdout, "exists from an earlier run") {
		t.Errorf("the rerun does not mention the existing group:\n%s", r)
	}
	checkSeedFormat(t, c, 500)
}

// TestDemoRerunResumesLeftovers leaves tickets pending for a demo consumer,
// as a killed run would; the next run handles them too and still exits 0.
func TestDemoRerunResumesLeftovers(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	if r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "10", "--work", "0s"); r.code != exitOK {
		t.Fatalf("first run:\n%s", r)
	}
	for range 4 {
		if err := do(t, c, "XADD", demoStream, "*", "whatHappened", "ticket received", "ticketID", "7", "ticketData", "some ticket data").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XREADGROUP", "GROUP", demoGroup, "demo-consumer-2", "COUNT", "10", "STREAMS", demoStream, ">").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "50", "--work", "1ms")
	checkDemoOutput(t, r, 50, 5, "50ms")
	if !strings.Contains(r.stdout, "also handled 4 tickets left over from earlier runs") {
		t.Errorf("the leftovers are not reported:\n%s", r)
	}
	checkSeedFormat(t, c, 64)
}

func TestDemoOnAKeyOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "SET", demoStream, "x").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "10")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "key tickets is not a stream")
}
