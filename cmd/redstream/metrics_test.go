package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns the text of http://addr/metrics, or "" when it cannot
// be read.
func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}

// sample returns the value of the first series of metric whose labels
// include every one of labels (each `name="value"`), and whether there
// is one.
func sample(text, metric string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, metric+"{")
		if !ok {
			continue
		}
		set, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		all := true
		for _, l := range labels {
			all = all && strings.Contains(","+set+",", ","+l+",")
		}
		if all {
			v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// TestConsumeMetricsAddr scrapes consume --metrics-addr over HTTP: the
// Inspector's view of a stream with known contents, and the counters of
// what consume handled.
func TestConsumeMetricsAddr(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	// Before consume starts: 30 entries, 2 dead letters, and group audit
	// that was delivered 10 entries (to consumer x) and acked 4 of them.
	publishN(t, c, srv.URL(), "st", 30)
	es := entries(t, c, "st")
	for _, cmd := range [][]string{
		{"XADD", "st:dead", "*", "k", "v"},
		{"XADD", "st:dead", "*", "k", "w"},
		{"XGROUP", "CREATE", "st", "audit", "0"},
		{"XREADGROUP", "GROUP", "audit", "x", "COUNT", "10", "STREAMS", "st", ">"},
		{"XACK", "st", "audit", es[0].ID, es[1].ID, es[2].ID, es[3].ID},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	addr := closedPort(t)
	bg := startCLI(t, nil, "consume", "--redis", srv.URL(), "--stream", "st", "--group", "g", "--from", "0", "--consumer", "c1", "--metrics-addr", addr)
	waitFor(t, 10*time.Second, "the metrics endpoint", func() bool { return scrape(t, addr) != "" })
	waitFor(t, 30*time.Second, "30 printed entries", func() bool { return strings.Count(bg.stdout.String(), "\n") >= 30 })

	// The acks go out in batches: wait until the scrape shows them all.
	var text string
	waitFor(t, 10*time.Second, "30 acks and nothing pending in /metrics", func() bool {
		text = scrape(t, addr)
		acked, ok1 := sample(text, "redstream_handled_total", `stream="st"`, `group="g"`, `outcome="ack"`)
		pending, ok2 := sample(text, "redstream_group_pending", `stream="st"`, `group="g"`)
		return ok1 && ok2 && acked == 30 && pending == 0
	})
	wantSamples(t, text, []wantSample{
		{"redstream_inspect_up", []string{`stream="st"`}, 1},
		{"redstream_stream_length", []string{`stream="st"`}, 30},
		{"redstream_dead_letters", []string{`stream="st"`}, 2},
		{"redstream_group_lag", []string{`stream="st"`, `group="g"`}, 0},
		{"redstream_group_lag_known", []string{`stream="st"`, `group="g"`}, 1},
		{"redstream_group_consumers", []string{`stream="st"`, `group="g"`}, 1},
		{"redstream_consumer_pending", []string{`stream="st"`, `group="g"`, `consumer="c1"`}, 0},
		{"redstream_group_oldest_pending_age_seconds", []string{`stream="st"`, `group="g"`}, 0},
		{"redstream_group_lag", []string{`stream="st"`, `group="audit"`}, 20},
		{"redstream_group_pending", []string{`stream="st"`, `group="audit"`}, 6},
		{"redstream_consumer_pending", []string{`stream="st"`, `group="audit"`, `consumer="x"`}, 6},
	})
	if v, ok := sample(text, "redstream_handled_total", `stream="st"`, `group="g"`, `outcome="retry"`); ok && v != 0 {
		t.Errorf("redstream_handled_total{outcome=\"retry\"} = %v, want none\n%s", v, text)
	}

	// 5 more: the counters and the stream's state follow.
	publishN(t, c, srv.URL(), "st", 5)
	waitFor(t, 30*time.Second, "35 acks and 35 entries in /metrics", func() bool {
		text = scrape(t, addr)
		acked, _ := sample(text, "redstream_handled_total", `stream="st"`, `group="g"`, `outcome="ack"`)
		length, _ := sample(text, "redstream_stream_length", `stream="st"`)
		pending, ok := sample(text, "redstream_group_pending", `stream="st"`, `group="g"`)
		return acked == 35 && length == 35 && ok && pending == 0
	})
	wantSamples(t, text, []wantSample{
		{"redstream_group_lag", []string{`stream="st"`, `group="g"`}, 0},
		{"redstream_group_lag", []string{`stream="st"`, `group="audit"`}, 25},
	})

	if !strings.Contains(bg.stderr.String(), "serving metrics at http://"+addr+"/metrics") {
		t.Errorf("consume did not say where the metrics are:\n%s", bg.stderr)
	}
	r := bg.stop(t)
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	if scrape(t, addr) != "" {
		t.Errorf("/metrics still served after consume ended")
	}
}

// wantSample is the value one series should have.
type wantSample struct {
	metric string
	labels []string
	value  float64
}

// wantSamples checks each series of want in the scraped text.
func wantSamples(t *testing.T, text string, want []wantSample) {
	t.Helper()
	wrong := false
	for _, w := range want {
		if v, ok := sample(text, w.metric, w.labels...); !ok || v != w.value {
			t.Errorf("%s{%s} = %v (found %v), want %v", w.metric, strings.Join(w.labels, ","), v, ok, w.value)
			wrong = true
		}
	}
	if wrong {
		t.Logf("scraped:\n%s", text)
	}
}

func TestMetricsAddrErrors(t *testing.T) {
	t.Parallel()
	r := cli(t, nil, "consume", "--stream", "s", "--group", "g", "--metrics-addr", "9464")
	if r.code != exitUsage {
		t.Fatalf("bad --metrics-addr: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, `--metrics-addr "9464" is not host:port`)
}

func TestDemoMetricsAddr(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	addr := closedPort(t)
	r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "50", "--consumers", "2", "--work", "0s", "--metrics-addr", addr)
	if r.code != exitOK || !strings.Contains(r.stderr, "serving metrics at http://"+addr+"/metrics") {
		t.Fatalf("demo --metrics-addr:\n%s", r)
	}
}

// Catches: metrics served on every interface without a word, or a warning
// for an address that stays on this machine.
func TestMetricsAddrWarnsBeyondLoopback(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	const warning = "warning: --metrics-addr"
	_, port, _ := net.SplitHostPort(closedPort(t))
	for _, tc := range []struct {
		addr string
		warn bool
	}{
		{":" + port, true},
		{"0.0.0.0:" + port, true},
		{"127.0.0.1:" + port, false},
		{"localhost:" + port, false},
		{"LOCALHOST:" + port, false}, // what it binds to counts, not how it is spelled
	} {
		r := cli(t, nil, "demo", "--redis", srv.URL(), "--tickets", "5", "--consumers", "1", "--work", "0s", "--metrics-addr", tc.addr)
		if r.code != exitOK {
			t.Fatalf("demo --metrics-addr %s:\n%s", tc.addr, r)
		}
		if got := strings.Contains(r.stderr, warning); got != tc.warn {
			t.Errorf("demo --metrics-addr %s: warned %v, want %v:\n%s", tc.addr, got, tc.warn, r)
		}
		if tc.warn && !strings.Contains(r.stderr, "127.0.0.1:PORT") {
			t.Errorf("demo --metrics-addr %s: the warning does not say how to stay local:\n%s", tc.addr, r)
		}
	}
}
