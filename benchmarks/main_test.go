package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if isChild() { // the memory figure re-executes this test binary
		os.Exit(childMain())
	}
	os.Exit(m.Run())
}

// TestQuickRun runs the whole harness in --quick mode against a private
// redis-server and checks that every figure is there and positive. It
// checks no timing: the targets are for the full run to report.
func TestQuickRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := mainErr(ctx, []string{"--quick", "--json"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	var rep Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, stdout.String())
	}
	if !rep.Quick || !rep.PrivateServer || rep.Payload != 100 {
		t.Errorf("quick=%v private=%v payload=%d, want true, true, 100", rep.Quick, rep.PrivateServer, rep.Payload)
	}

	want := []string{
		"redstream.publish.1", "redstream.publish.64", "redstream.publish.batch", "redstream.publish.batch.msgid",
		"ceiling.consume.raw", "redstream.consume.1", "redstream.consume.4",
		"redstream.topic.consume.12", "redstream.cli.consume",
		"redstream.latency.2000.p50", "redstream.latency.2000.p90", "redstream.latency.2000.p99",
		"redstream.latency.20000.p50", "redstream.latency.20000.p90", "redstream.latency.20000.p99",
		"redstream.delay.p50", "redstream.delay.p99",
		"redstream.memory.heap", "redstream.seed.defaults", "seed.article.computed",
		"watermill.publish.1", "watermill.publish.64", "watermill.subscribe.1",
		"watermill.latency.2000.p50", "watermill.latency.2000.p90", "watermill.latency.2000.p99",
		"asynq.enqueue.64", "asynq.process",
		"goredis.xadd.1", "goredis.seedconsumer.1",
		"redstream.tracing.publish.batch", "redstream.tracing.publish.batch.traced.unsampled", "redstream.tracing.publish.batch.traced.sampled",
		"redstream.tracing.consume.1", "redstream.tracing.consume.1.traced.unsampled", "redstream.tracing.consume.1.traced.sampled",
	}
	if _, err := exec.LookPath("redis-benchmark"); err == nil {
		want = append(want, "ceiling.xadd")
	}
	want = append(want, "redstream.consumebatch.1")
	if runtime.GOOS == "linux" {
		want = append(want, "redstream.memory.rss")
	}
	got := map[string]Figure{}
	for _, f := range rep.Figures {
		if _, dup := got[f.Key]; dup {
			t.Errorf("figure %s reported twice", f.Key)
		}
		got[f.Key] = f
		if !(f.Value > 0) || math.IsInf(f.Value, 0) {
			t.Errorf("%s (%s %s) = %v %s, want a positive number", f.Key, f.System, f.Name, f.Value, f.Unit)
		}
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("figure %s missing", k)
		}
	}

	targets := 0
	for _, r := range rep.Ratios {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("ratio %s = %v, want a positive number", r.Name, r.Value)
		}
		if r.Met != nil {
			targets++
		}
	}
	// 16 targets (the scheduled-entry delay's p99 among them); the XADD
	// ceiling's one needs redis-benchmark.
	if wantTargets := 15 + btoi(got["ceiling.xadd"].Key != ""); targets != wantTargets {
		t.Errorf("%d ratios carry a target, want %d", targets, wantTargets)
	}

	var text bytes.Buffer
	rep.writeText(&text)
	for _, s := range []string{"ratios", "targets met:", "watermill", "asynq"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, text.String())
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestParseRequestsPerSecond(t *testing.T) {
	tests := []struct {
		name, out string
		want      float64
		wantErr   bool
	}{
		{"final line after progress", "XADD s * payload xx: rps=517330.7 (overall: 517330.7) avg_msec=4.586 (overall: 4.586)\r   \rXADD s * payload xx: 505050.50 requests per second, p50=4.511 msec\n", 505050.50, false},
		{"integer", "XADD s * payload xx: 714796 requests per second\n", 714796, false},
		{"error", "Could not connect to Redis at 127.0.0.1:1: Connection refused\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRequestsPerSecond(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseRequestsPerSecond = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestBenchmarkConnArgs(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:7000", "-h 127.0.0.1 -p 7000"},
		{"redis://localhost", "-h localhost -p 6379"},
		{"redis://:secret@h:1/2", "-h h -p 1 -a secret --dbnum 2"},
		{"redis://alice:secret@h:1", "-h h -p 1 -a secret --user alice"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			args, err := benchmarkConnArgs(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := benchmarkConnArgs("rediss://h:1"); err == nil {
		t.Error("rediss:// URL accepted, want an error (redis-benchmark is not run over TLS)")
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"--quick", "--size", "256"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.N != 50_000 || cfg.LoopN != 10_000 || cfg.MemoryN != 100_000 || cfg.Size != 256 {
		t.Errorf("quick config = %+v", cfg)
	}
	for _, bad := range [][]string{{"--size", "0"}, {"--n", "-1"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}
