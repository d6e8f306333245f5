package redstream

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/redstreamtest"
)

// singleClient is a nopClient that says it is no cluster client, as
// NewPublisher asks.
type singleClient struct{ nopClient }

func (singleClient) Mode() rueidis.ClientMode { return rueidis.ClientModeStandalone }

// Catches: a size-like option that accepts a value beyond its bound (an
// out-of-memory crash waiting for a typo), refuses the bound itself, or
// says so in anything but one line naming the allowed range.
func TestSizeOptionsAreBoundedWithAClearError(t *testing.T) {
	client := nopClient{}
	h := HandlerFunc(func(context.Context, *Message) error { return nil })
	bh := BatchHandlerFunc(func(context.Context, []*Message) error { return nil })
	top := &Topic{Name: "t", keys: []string{"t:0"}}
	consumer := func(opts ...ConsumerOption) error {
		_, err := NewConsumer(client, "s", "g", h, opts...)
		return err
	}
	batch := func(opts ...ConsumerOption) error {
		_, err := NewBatchConsumer(client, "s", "g", bh, opts...)
		return err
	}
	topic := func(opts ...TopicConsumerOption) error {
		_, err := NewTopicConsumer(client, top, "g", h, opts...)
		return err
	}
	publisher := func(opts ...PublisherOption) error {
		_, err := NewPublisher(singleClient{}, opts...)
		return err
	}
	const tenYears = 10 * 365 * 24 * time.Hour
	for _, tc := range []struct {
		name   string
		err    error
		limits string // "" for a value that is accepted
	}{
		{"Concurrency 0", consumer(Concurrency(0)), "between 1 and 100000"},
		{"Concurrency 100001", consumer(Concurrency(100_001)), "between 1 and 100000"},
		{"Concurrency 99999999999", consumer(Concurrency(99_999_999_999)), "between 1 and 100000"},
		{"Concurrency 100000", consumer(Concurrency(100_000)), ""},
		{"batch Concurrency 99999999999", batch(Concurrency(99_999_999_999)), "between 1 and 100000"},
		{"batch Concurrency 100000 BatchSize 10000", batch(Concurrency(100_000), BatchSize(10_000)), ""},
		{"topic Concurrency 99999999999", topic(Concurrency(99_999_999_999)), "between 1 and 100000"},
		{"topic Concurrency 100000", topic(Concurrency(100_000)), ""},
		{"BatchSize 10001", consumer(BatchSize(10_001)), "between 1 and 10000"},
		{"BatchSize 10000", consumer(BatchSize(10_000)), ""},
		{"batch BatchSize 1000000", batch(BatchSize(1_000_000)), "between 1 and 10000"},
		{"topic BatchSize 10001", topic(BatchSize(10_001)), "between 1 and 10000"},
		{"AckBatch 10001", consumer(AckBatch(10_001)), "between 1 and 10000"},
		{"AckBatch 10000", consumer(AckBatch(10_000)), ""},
		{"MaxLen 0", publisher(MaxLen(0)), "between 1 and 1000000000000"},
		{"MaxLen 10^12+1", publisher(MaxLen(1_000_000_000_001)), "between 1 and 1000000000000"},
		{"MaxLen 10^12", publisher(MaxLen(1_000_000_000_000)), ""},
		{"MaxAge over ten years", publisher(MaxAge(tenYears + 1)), "between 1m and 87600h0m0s"},
		{"MaxAge ten years", publisher(MaxAge(tenYears)), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			switch {
			case tc.limits == "" && tc.err != nil:
				t.Fatalf("refused a value within the bounds: %v", tc.err)
			case tc.limits == "":
			case !errors.Is(tc.err, ErrInvalidOption):
				t.Fatalf("error = %v, want ErrInvalidOption", tc.err)
			case !strings.Contains(tc.err.Error(), tc.limits) || strings.Contains(tc.err.Error(), "\n"):
				t.Fatalf("error %q is not one line naming the range %q", tc.err, tc.limits)
			}
		})
	}
}

// slowlogCounts returns the COUNT argument of every logged command named
// cmd, from a server whose slowlog records every command.
func slowlogCounts(t *testing.T, srv *redstreamtest.Server, cmd string) []int {
	t.Helper()
	entries, err := srv.Do(t, "SLOWLOG", "GET", "-1").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	for _, e := range entries {
		fields, err := e.ToArray()
		if err != nil || len(fields) < 4 {
			t.Fatalf("slowlog entry: %v", err)
		}
		args, err := fields[3].AsStrSlice()
		if err != nil || len(args) == 0 || !strings.EqualFold(args[0], cmd) {
			continue
		}
		for i := 1; i+1 < len(args); i++ {
			if strings.EqualFold(args[i], "COUNT") {
				n, err := strconv.Atoi(args[i+1])
				if err != nil {
					t.Fatalf("%s COUNT %q", cmd, args[i+1])
				}
				counts = append(counts, n)
			}
		}
	}
	return counts
}

// Catches: a large Concurrency that costs in proportion to the setting
// rather than to the load: handler goroutines all started at Run (100000
// of them for an idle consumer), or reads that ask for as many entries as
// there are handlers (XREADGROUP COUNT 100000, the whole backlog in
// memory at once).
func TestLargeConcurrencyCostsWhatTheLoadNeeds(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	srv.Do(t, "CONFIG", "SET", "slowlog-log-slower-than", "0")
	srv.Do(t, "CONFIG", "SET", "slowlog-max-len", "100000")
	c := srv.Client(t)
	const n = 2500
	for i := range n {
		srv.Do(t, "XADD", "s", "*", "i", strconv.Itoa(i))
	}
	srv.Do(t, "XGROUP", "CREATE", "s", "g", "$") // the backlog waits until the group is moved
	var handled atomic.Int64
	h := HandlerFunc(func(ctx context.Context, m *Message) error { handled.Add(1); return nil })
	cons, err := NewConsumer(c, "s", "g", h, Concurrency(100_000), Block(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	runInternal(t, cons)

	// Idle: reading, no handler needed yet.
	waitInternal(t, 10*time.Second, "a blocked read", func() bool { return blockedOn(t, srv) == 1 })
	if w := cons.queue.startedWorkers(); w != 0 {
		t.Fatalf("an idle consumer started %d handler goroutines", w)
	}
	if g := runtime.NumGoroutine() - before; g > 1000 {
		t.Fatalf("an idle Concurrency(100000) consumer runs %d goroutines", g)
	}

	srv.Do(t, "XGROUP", "SETID", "s", "g", "0")
	waitInternal(t, 30*time.Second, "the backlog handled", func() bool { return handled.Load() == n && cons.Stats().Acked == n })
	// Each worker is started by a push or by a worker that took a job
	// with more waiting, so never more than twice the entries; the point
	// is that it is nowhere near the setting.
	if w := cons.queue.startedWorkers(); w > 2*n {
		t.Fatalf("%d handler goroutines started for %d entries", w, n)
	}
	if g := runtime.NumGoroutine() - before; g > 2*n+100 {
		t.Fatalf("%d goroutines after %d entries", g, n)
	}
	t.Logf("%d workers started", cons.queue.startedWorkers())
	counts := slowlogCounts(t, srv, "XREADGROUP")
	t.Logf("reads %v", counts)
	for _, k := range counts {
		if k > maxDefaultRead {
			t.Fatalf("an XREADGROUP asked for %d entries, more than %d (reads %v)", k, maxDefaultRead, counts)
		}
	}
	if most := slices.Max(append(counts, 0)); most != maxDefaultRead {
		t.Fatalf("largest read asked for %d entries, want %d with handlers to spare (reads %v)", most, maxDefaultRead, counts)
	}
	for _, k := range slowlogCounts(t, srv, "XAUTOCLAIM") {
		if k > maxDefaultRead {
			t.Fatalf("an XAUTOCLAIM asked for %d entries, more than %d", k, maxDefaultRead)
		}
	}
}

// Catches: a queue that starts no worker for a push while none is idle
// (jobs stranded), one that never reaches its limit under slow jobs, and
// one that starts more workers than the limit.
func TestWorkQueueStartsWorkersAsNeededUpToTheLimit(t *testing.T) {
	const limit = 4
	q := newWorkQueue()
	var wg sync.WaitGroup
	var running, most, done atomic.Int64
	gate := make(chan struct{})
	q.startWorkers(limit, &wg, func(job) {
		r := running.Add(1)
		for {
			old := most.Load()
			if r <= old || most.CompareAndSwap(old, r) {
				break
			}
		}
		<-gate
		running.Add(-1)
		done.Add(1)
	})
	if n := q.startedWorkers(); n != 0 {
		t.Fatalf("%d workers started before any job", n)
	}
	q.pushMessages(testMessages(1, 50))
	waitInternal(t, 10*time.Second, "the limit of workers running", func() bool { return running.Load() == limit })
	for i := range 50 {
		q.pushMessages(testMessages(100+i, 1))
	}
	close(gate)
	waitInternal(t, 10*time.Second, "every job run", func() bool { return done.Load() == 100 })
	q.close()
	wg.Wait()
	if n, m := q.startedWorkers(), most.Load(); n != limit || m != limit {
		t.Fatalf("%d workers started, %d ran at once; want %d", n, m, limit)
	}
}
