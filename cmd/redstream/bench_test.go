package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBenchQuickJSON runs the whole bench in its quick form against a
// server of the test's own and checks every figure is there and positive.
// Speed itself is not asserted: machines are noisy.
func TestBenchQuickJSON(t *testing.T) {
	srv := startRedis(t)
	r := cli(t, nil, "bench", "--redis", srv.URL(), "--quick", "--json")
	if r.code != exitOK {
		t.Fatalf("bench:\n%s", r)
	}
	var out struct {
		Machine string `json:"machine"`
		Results []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
			Unit  string  `json:"unit"`
		} `json:"results"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("bench --json output is not JSON: %v\n%s", err, r.stdout)
	}
	want := []string{"publish, 1 goroutine", "publish, 64 goroutines", "PublishBatch", "consume+ack, 1 consumer", "consume+ack, 4 consumer",
		"latency at 2000/s p99", "latency at 20000/s p50", "peak heap", "seed: 3000 tickets"}
	for _, w := range want {
		found := false
		for _, res := range out.Results {
			if strings.HasPrefix(res.Name, w) {
				found = true
				if res.Value <= 0 {
					t.Errorf("%s = %v %s, want a positive figure", res.Name, res.Value, res.Unit)
				}
			}
		}
		if !found {
			t.Errorf("no %q figure in %s", w, r.stdout)
		}
	}
	if out.Machine == "" {
		t.Error("the machine is not named")
	}
}

func TestBenchRejectsBadSize(t *testing.T) {
	if r := cli(t, nil, "bench", "--size", "0"); r.code != exitUsage {
		t.Fatalf("bench --size 0:\n%s", r)
	}
}
