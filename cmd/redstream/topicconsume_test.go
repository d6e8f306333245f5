package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// publishKeyed publishes perKey events with seq 0..perKey-1 for each of
// keys with the CLI.
func publishKeyed(t *testing.T, url, topic string, keys []string, perKey int) {
	t.Helper()
	for seq := range perKey {
		for _, k := range keys {
			if r := cli(t, nil, "publish", "--redis", url, "--topic", topic, "--key", k, "seq="+strconv.Itoa(seq)); r.code != exitOK {
				t.Fatalf("publish:\n%s", r)
			}
		}
	}
}

// topicPending sums the group's pending events over the topic's
// partitions.
func topicPending(t *testing.T, c rueidis.Client, top *redstream.Topic, group string) int64 {
	t.Helper()
	var n int64
	for _, s := range top.Streams() {
		n += pendingCount(t, c, s, group)
	}
	return n
}

// checkKeyOrder checks that every key's events were printed once each, in
// publish order.
func checkKeyOrder(t *testing.T, lines []string, keys []string, perKey int) {
	t.Helper()
	next := map[string]int{}
	for _, line := range lines {
		var m redstream.Message
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not a JSON entry: %v", line, err)
		}
		k := m.Value(redstream.KeyField)
		if seq := m.Value("seq"); seq != strconv.Itoa(next[k]) {
			t.Fatalf("key %s: seq %s printed after %d: out of order or repeated", k, seq, next[k])
		}
		next[k]++
	}
	for _, k := range keys {
		if next[k] != perKey {
			t.Errorf("key %s: %d events printed, want %d", k, next[k], perKey)
		}
	}
}

func TestConsumeTopicPrintsEachKeyInOrder(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	top := createTopic(t, c, "orders", 3)
	keys := []string{"a", "b", "c", "d"}
	const perKey = 5
	publishKeyed(t, url, "orders", keys, perKey)

	n := len(keys) * perKey
	r := cli(t, nil, "consume", "--redis", url, "--topic", "orders", "--group", "g", "--json", "--max", strconv.Itoa(n))
	if r.code != exitOK {
		t.Fatalf("consume --topic:\n%s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("printed %d lines, want %d:\n%s", len(lines), n, r)
	}
	checkKeyOrder(t, lines, keys, perKey)
	if !strings.Contains(r.stderr, fmt.Sprintf("handled and acknowledged %d events", n)) || !strings.Contains(r.stderr, "consuming topic orders (3 partitions) in group g") {
		t.Errorf("stderr does not say what was consumed:\n%s", r)
	}
	if p := topicPending(t, c, top, "g"); p != 0 {
		t.Errorf("%d events pending after consume --max, want 0", p)
	}

	// Text lines, as consume prints them; a new group starts at the
	// beginning of every partition.
	r = cli(t, nil, "consume", "--redis", url, "--topic", "orders", "--group", "g2", "--max", "1", "--consumer", "reader")
	if r.code != exitOK || !strings.Contains(r.stdout, " redstream:key=") || !strings.Contains(r.stderr, "as consumer reader") {
		t.Fatalf("consume --topic text:\n%s", r)
	}
}

// TestConsumeTopicStopsGracefullyOnSignal runs consume --topic until its
// context ends, as SIGINT ends it: everything printed was acknowledged.
func TestConsumeTopicStopsGracefullyOnSignal(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	top := createTopic(t, c, "live", 2)

	bg := startCLI(t, nil, "consume", "--redis", url, "--topic", "live", "--group", "g", "--json")
	keys := []string{"x", "y", "z"}
	publishKeyed(t, url, "live", keys, 4)
	waitFor(t, 30*time.Second, "12 printed events", func() bool {
		return strings.Count(bg.stdout.String(), "\n") >= 12
	})
	r := bg.stop(t)
	if r.code != exitOK {
		t.Fatalf("consume --topic stopped by its context:\n%s", r)
	}
	checkKeyOrder(t, strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n"), keys, 4)
	if p := topicPending(t, c, top, "g"); p != 0 {
		t.Errorf("%d events pending after a graceful stop, want 0", p)
	}
}

func TestConsumeTopicErrors(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	url := srv.URL()
	r := cli(t, nil, "consume", "--redis", url, "--topic", "nope", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("consume a missing topic: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "topic nope does not exist")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "t", "--stream", "s", "--group", "g"}, "not both"},
		{[]string{"--topic", "", "--group", "g"}, "--topic must not be empty"},
		{[]string{"--topic", "t"}, `"group" not set`},
		{[]string{"--group", "g"}, `"stream" not set`},
		{[]string{"--topic", "t", "--group", "g", "--concurrency", "0"}, "--concurrency must be between 1 and 10000"},
		{[]string{"--topic", "t", "--group", "g", "--from", "yesterday"}, "--from must be"},
	} {
		r := cli(t, nil, append([]string{"consume", "--redis", url}, tc.args...)...)
		if r.code != exitUsage {
			t.Fatalf("consume %v: exit %d, want %d\n%s", tc.args, r.code, exitUsage, r)
		}
		wantOneErrorLine(t, r, tc.want)
	}
}

// TestConsumeTopicMaxLosesNothing: events taken past --max are not
// printed and stay pending; the next run of that consumer prints them:
// every event exactly once over both runs, nothing left pending.
func TestConsumeTopicMaxLosesNothing(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	top := createTopic(t, c, "many", 3)
	keys := []string{"a", "b", "c", "d", "e", "f"}
	const perKey = 5
	publishKeyed(t, url, "many", keys, perKey)

	r := cli(t, nil, "consume", "--redis", url, "--topic", "many", "--group", "g", "--max", "7", "--consumer", "c1", "--json")
	if r.code != exitOK {
		t.Fatalf("consume --topic --max 7:\n%s", r)
	}
	if got := strings.Count(r.stdout, "\n"); got != 7 {
		t.Fatalf("printed %d events, want 7:\n%s", got, r)
	}
	r2 := cli(t, nil, "consume", "--redis", url, "--topic", "many", "--group", "g", "--max", strconv.Itoa(len(keys)*perKey-7), "--consumer", "c1", "--json")
	if r2.code != exitOK {
		t.Fatalf("second consume --topic:\n%s", r2)
	}
	checkKeyOrder(t, strings.Split(strings.TrimSuffix(r.stdout+r2.stdout, "\n"), "\n"), keys, perKey)
	if p := topicPending(t, c, top, "g"); p != 0 {
		t.Errorf("%d events pending after both runs, want 0", p)
	}
}
