package main

import (
	"io"
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

func TestConsumeMetricsAddr(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	addr := closedPort(t)
	bg := startCLI(t, nil, "consume", "--redis", srv.URL(), "--stream", "st", "--group", "g", "--from", "0", "--metrics-addr", addr)
	waitFor(t, 10*time.Second, "the metrics endpoint", func() bool { return scrape(t, addr) != "" })
	publishN(t, c, srv.URL(), "st", 25)
	waitFor(t, 30*time.Second, "25 printed entries", func() bool { return strings.Count(bg.stdout.String(), "\n") >= 25 })

	var text string
	waitFor(t, 10*time.Second, "25 acks in /metrics", func() bool {
		text = scrape(t, addr)
		v, ok := sample(text, "redstream_handled_total", `stream="st"`, `group="g"`, `outcome="ack"`)
		return ok && v == 25
	})
	if v, ok := sample(text, "redstream_stream_length", `stream="st"`); !ok || v != 25 {
		t.Errorf("redstream_stream_length{stream=\"st\"} = %v (%v), want 25\n%s", v, ok, text)
	}
	if _, ok := sample(text, "redstream_group_pending", `stream="st"`, `group="g"`); !ok {
		t.Errorf("no redstream_group_pending for st/g:\n%s", text)
	}
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
