package redstream_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

var (
	sharedOnce sync.Once
	shared     *redstreamtest.Server
)

// sharedRedis returns one redis-server for the tests of this package that
// do not break their server; each test uses its own keys.
func sharedRedis(t *testing.T) *redstreamtest.Server {
	t.Helper()
	sharedOnce.Do(func() { shared = redstreamtest.StartRedis(&processTB{T: t}) })
	return shared
}

// processTB lets the shared server outlive the test that started it: its
// cleanups run when the test binary exits (see TestMain).
type processTB struct {
	*testing.T
}

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func (p *processTB) Cleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

func (p *processTB) TempDir() string {
	return tempDirForProcess()
}

func runCleanups() {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

var (
	runIDs sync.Map // *testing.T -> int64
	runSeq atomic.Int64
)

// key returns a key unique to the test run (also under -count=N), so
// tests can share a server.
func key(t *testing.T, suffix string) string {
	id, _ := runIDs.LoadOrStore(t, runSeq.Add(1))
	name := strings.NewReplacer("/", ":", " ", "_").Replace(t.Name())
	return fmt.Sprintf("test:%s:%d:%s", name, id, suffix)
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, srv *redstreamtest.Server) rueidis.Client {
	t.Helper()
	c, err := redstream.Dial(ctxT(t, 10*time.Second), srv.URL())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// publishN writes n entries with a seq field to stream and returns their IDs.
func publishN(t *testing.T, c rueidis.Client, stream string, n int) []string {
	t.Helper()
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]redstream.Entry, n)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("seq", fmt.Sprint(i))}
	}
	ids, err := p.PublishBatch(ctxT(t, 30*time.Second), entries)
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	return ids
}

// pendingCount returns the group's pending count from XPENDING.
func pendingCount(t *testing.T, c rueidis.Client, stream, group string) int64 {
	t.Helper()
	arr, err := c.Do(ctxT(t, 5*time.Second), c.B().Xpending().Key(stream).Group(group).Build()).ToArray()
	if err != nil {
		t.Fatalf("xpending: %v", err)
	}
	n, err := arr[0].AsInt64()
	if err != nil {
		t.Fatalf("xpending count: %v", err)
	}
	return n
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// consumersOf returns the group's consumers with their pending counts,
// from XINFO CONSUMERS.
func consumersOf(t *testing.T, srv *redstreamtest.Server, stream, group string) map[string]int64 {
	t.Helper()
	rows, err := srv.Do(t, "XINFO", "CONSUMERS", stream, group).ToArray()
	if err != nil {
		t.Fatalf("xinfo consumers: %v", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		m, err := r.AsMap()
		if err != nil {
			t.Fatalf("xinfo consumers row: %v", err)
		}
		name, pending := m["name"], m["pending"]
		s, _ := name.ToString()
		n, _ := pending.AsInt64()
		out[s] = n
	}
	return out
}

// infoField returns a field of a section of the server's INFO, "" when
// the server does not report it.
func infoField(t *testing.T, c rueidis.Client, section, field string) string {
	t.Helper()
	s, err := c.Do(ctxT(t, 5*time.Second), c.B().Info().Section(section).Build()).ToString()
	if err != nil {
		t.Fatalf("info %s: %v", section, err)
	}
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// blockedClients returns how many clients of the server wait in a
// blocking command (INFO clients).
func blockedClients(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	n, err := strconv.ParseInt(infoField(t, c, "clients", "blocked_clients"), 10, 64)
	if err != nil {
		t.Fatalf("blocked_clients: %v", err)
	}
	return n
}

// statCount returns a counter from an INFO stats line such as
// "calls=12,usec=40" (commandstats) or "count=3" (errorstats); 0 when
// the line is empty.
func statCount(t *testing.T, line, counter string) int64 {
	t.Helper()
	for _, kv := range strings.Split(line, ",") {
		if v, ok := strings.CutPrefix(kv, counter+"="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("%s in %q: %v", counter, line, err)
			}
			return n
		}
	}
	return 0
}
