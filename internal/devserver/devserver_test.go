package devserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/devserver"
)

func start(t *testing.T) *devserver.Server {
	t.Helper()
	s, err := devserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func dial(t *testing.T, s *devserver.Server, opts ...redstream.DialOption) rueidis.Client {
	t.Helper()
	c, err := redstream.Dial(ctxT(t, 10*time.Second), s.URL(), opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", s.URL(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func do(t *testing.T, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	return c.Do(ctxT(t, 10*time.Second), c.B().Arbitrary(args...).Build())
}

func TestStartServesAndCloseStops(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := devserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") || strings.HasSuffix(s.URL(), ":0") {
		t.Fatalf("URL() = %q, want redis://127.0.0.1:<port>", s.URL())
	}
	for _, tc := range []struct {
		name string
		opts []redstream.DialOption
	}{
		{"cluster probe", nil}, // CLUSTER must fail so rueidis picks a single node
		{"standalone", []redstream.DialOption{redstream.Standalone()}},
	} {
		c, err := redstream.Dial(ctxT(t, 10*time.Second), s.URL(), tc.opts...)
		if err != nil {
			t.Fatalf("%s: dial: %v", tc.name, err)
		}
		if got, err := c.Do(context.Background(), c.B().Ping().Build()).ToString(); err != nil || got != "PONG" {
			t.Fatalf("%s: PING = %q, %v", tc.name, got, err)
		}
		c.Close()
	}
	s.Close()
	s.Close() // idempotent
	if conn, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts connections after Close", s.Addr())
	}
}

func TestStartFailsWhenAddressTaken(t *testing.T) {
	s := start(t)
	_, err := devserver.Start(s.Addr())
	if err == nil {
		t.Fatalf("second Start on %s succeeded", s.Addr())
	}
	if !strings.Contains(err.Error(), s.Addr()) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestClusterCommandsFailLikeRedis(t *testing.T) {
	c := dial(t, start(t), redstream.Standalone())
	err := do(t, c, "CLUSTER", "SLOTS").Error()
	if err == nil || !strings.Contains(err.Error(), "cluster support disabled") {
		t.Fatalf("CLUSTER SLOTS error = %v, want cluster support disabled", err)
	}
}

// TestConsumerHandlesEverything runs the library's consumer against the
// embedded server: group creation with MKSTREAM, XREADGROUP with BLOCK,
// batched XACK.
func TestConsumerHandlesEverything(t *testing.T) {
	s := start(t)
	c := dial(t, s, redstream.Standalone())
	const stream, group, n = "events", "workers", 500

	var mu sync.Mutex
	seen := map[string]int{}
	done := make(chan struct{})
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		seen[m.ID]++
		if len(seen) == n {
			close(done)
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.Name("w1"), redstream.Concurrency(16), redstream.Block(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- cons.Run(ctx) }()

	// The group is created by Run; publish once it exists.
	waitFor(t, 10*time.Second, "the group", func() bool {
		return do(t, c, "XINFO", "GROUPS", stream).Error() == nil
	})
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	entries := make([]redstream.Entry, n)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("seq", fmt.Sprint(i))}
	}
	ids, err := p.PublishBatch(ctxT(t, 10*time.Second), entries)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("handled %d of %d entries in 30s", len(seen), n)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("entry %s handled %d times, want 1", id, seen[id])
		}
	}
	if got := pending(t, c, stream, group); got != 0 {
		t.Errorf("XPENDING count = %d after shutdown, want 0", got)
	}
	if st := cons.Stats(); st.Acked != n {
		t.Errorf("Stats().Acked = %d, want %d", st.Acked, n)
	}
}

// TestConsumerResumesItsPending checks the consumer's resume path on the
// embedded server: XPENDING <start> + COUNT <consumer>, then XCLAIM of
// those IDs with min-idle 0.
func TestConsumerResumesItsPending(t *testing.T) {
	s := start(t)
	c := dial(t, s, redstream.Standalone())
	const stream, group = "resume", "g"
	if err := do(t, c, "XGROUP", "CREATE", stream, group, "0", "MKSTREAM").Error(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 5 {
		id, err := do(t, c, "XADD", stream, "*", "n", fmt.Sprint(i)).ToString()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// An earlier run of consumer "c1" read everything but acked nothing.
	if err := do(t, c, "XREADGROUP", "GROUP", group, "c1", "COUNT", "10", "STREAMS", stream, ">").Error(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[string]int{} // id -> deliveries
	done := make(chan struct{})
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.ID] = m.Deliveries
		if len(got) == len(ids) {
			close(done)
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.Name("c1"), redstream.BatchSize(2), redstream.Block(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- cons.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("resumed %d of %d pending entries in 30s", len(got), len(ids))
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, id := range ids {
		if got[id] != 2 {
			t.Errorf("entry %s: Deliveries = %d, want 2 (one earlier delivery, one resume)", id, got[id])
		}
	}
	if n := pending(t, c, stream, group); n != 0 {
		t.Errorf("XPENDING count = %d, want 0", n)
	}
}

func TestInfoServerReportsTheEmulatedVersion(t *testing.T) {
	c := dial(t, start(t), redstream.Standalone())
	txt, err := do(t, c, "INFO", "server").ToString()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	if !strings.Contains(txt, "redis_version:"+devserver.EmulatedVersion+"\r\n") {
		t.Errorf("INFO server = %q, want redis_version:%s", txt, devserver.EmulatedVersion)
	}
	// Other sections are miniredis' own.
	if txt, err := do(t, c, "INFO", "clients").ToString(); err != nil || !strings.Contains(txt, "connected_clients:") {
		t.Errorf("INFO clients = %q, %v", txt, err)
	}
}

// TestConsumerTakesOverFromADeadConsumer checks the consumer's reclaim
// path on the embedded server: XAUTOCLAIM of entries another consumer
// read and never acknowledged.
func TestConsumerTakesOverFromADeadConsumer(t *testing.T) {
	s := start(t)
	c := dial(t, s, redstream.Standalone())
	const stream, group = "orphans", "g"
	if err := do(t, c, "XGROUP", "CREATE", stream, group, "0", "MKSTREAM").Error(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for i := range 5 {
		id, err := do(t, c, "XADD", stream, "*", "n", fmt.Sprint(i)).ToString()
		if err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	// Consumer "dead" read everything, then died.
	if err := do(t, c, "XREADGROUP", "GROUP", group, "dead", "COUNT", "10", "STREAMS", stream, ">").Error(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[string]bool{}
	done := make(chan struct{})
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got[m.ID] = true
		if len(got) == len(want) {
			close(done)
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, group, h, redstream.Name("alive"),
		redstream.ClaimMinIdle(50*time.Millisecond), redstream.ClaimInterval(20*time.Millisecond),
		redstream.Block(50*time.Millisecond),
		// A batch smaller than the concurrency leaves the reclaim free
		// handler slots while the reader blocks; with the default (batch =
		// concurrency) the library's reclaim finds none on an idle
		// consumer, on any server.
		redstream.Concurrency(8), redstream.BatchSize(2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- cons.Run(ctx) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("took over %d of %d entries of the dead consumer in 30s", len(got), len(want))
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for id := range want {
		if !got[id] {
			t.Errorf("entry %s was not taken over", id)
		}
	}
	if n := pending(t, c, stream, group); n != 0 {
		t.Errorf("XPENDING count = %d, want 0", n)
	}
}

func TestInspectorLagIsRightOrUnknown(t *testing.T) {
	s := start(t)
	c := dial(t, s, redstream.Standalone())
	const stream = "lagging"
	for i := range 10 {
		if err := do(t, c, "XADD", stream, "*", "n", fmt.Sprint(i)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range []string{"fresh", "half"} {
		if err := do(t, c, "XGROUP", "CREATE", stream, g, "0").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XREADGROUP", "GROUP", "half", "c", "COUNT", "4", "STREAMS", stream, ">").Error(); err != nil {
		t.Fatal(err)
	}
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 10*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"fresh": 10, "half": 6}
	if len(info.Groups) != len(want) {
		t.Fatalf("groups = %+v, want %d", info.Groups, len(want))
	}
	for _, g := range info.Groups {
		if g.Lag == nil {
			continue // unknown is allowed; a wrong number is not
		}
		if *g.Lag != want[g.Name] {
			t.Errorf("group %s: lag = %d, want %d", g.Name, *g.Lag, want[g.Name])
		}
	}
	if info.Length != 10 || info.FirstID == "" || info.LastID == "" {
		t.Errorf("info = %+v, want length 10 with first and last IDs", info)
	}
}

func TestXinfoGroupsKeepsOtherFields(t *testing.T) {
	for _, resp2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("resp2=%v", resp2), func(t *testing.T) {
			s := start(t)
			c, err := rueidis.NewClient(rueidis.ClientOption{
				InitAddress: []string{s.Addr()}, DisableCache: true, ForceSingleClient: true, AlwaysRESP2: resp2,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := do(t, c, "XGROUP", "CREATE", "st", "lag", "$", "MKSTREAM").Error(); err != nil {
				t.Fatal(err)
			}
			groups, err := do(t, c, "XINFO", "GROUPS", "st").ToArray()
			if err != nil || len(groups) != 1 {
				t.Fatalf("XINFO GROUPS = %v, %v", groups, err)
			}
			m, err := groups[0].AsMap()
			if err != nil {
				t.Fatal(err)
			}
			nameMsg, ldMsg := m["name"], m["last-delivered-id"]
			if name, _ := nameMsg.ToString(); name != "lag" {
				t.Errorf("name = %q, want lag", name)
			}
			if lag, ok := m["lag"]; !ok || !lag.IsNil() {
				t.Errorf("lag = %v (present %v), want nil", lag, ok)
			}
			if _, err := ldMsg.ToString(); err != nil {
				t.Errorf("last-delivered-id: %v", err)
			}
			// The missing key is still an error, not a reply with lag.
			err = do(t, c, "XINFO", "GROUPS", "missing").Error()
			if err == nil || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("XINFO GROUPS on a missing key: %v, want an error reply", err)
			}
		})
	}
}

func pending(t *testing.T, c rueidis.Client, stream, group string) int64 {
	t.Helper()
	arr, err := do(t, c, "XPENDING", stream, group).ToArray()
	if err != nil {
		t.Fatalf("xpending: %v", err)
	}
	n, err := arr[0].AsInt64()
	if err != nil {
		t.Fatalf("xpending count: %v", err)
	}
	return n
}

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
