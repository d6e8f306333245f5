package redstream_test

import (
	"context"
	"fmt"
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
