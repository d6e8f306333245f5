package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/keyslot"
	"github.com/redstream-go/redstream/redstreamtest"
)

func TestTopicLayoutAndMetadata(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	name := key(t, "orders")
	ctx := ctxT(t, 10*time.Second)
	if _, err := redstream.OpenTopic(ctx, c, name); !errors.Is(err, redstream.ErrNoTopic) {
		t.Fatalf("OpenTopic before creation: %v, want ErrNoTopic", err)
	}
	top, err := redstream.CreateTopic(ctx, c, name, 12)
	if err != nil {
		t.Fatal(err)
	}
	if top.Partitions() != 12 {
		t.Fatalf("partitions %d", top.Partitions())
	}
	for i, s := range top.Streams() {
		lo, hi := i*keyslot.Slots/12, (i+1)*keyslot.Slots/12
		if sl := int(keyslot.Of(s)); sl < lo || sl >= hi {
			t.Fatalf("partition %d key %s in slot %d, want [%d,%d)", i, s, sl, lo, hi)
		}
		if keyslot.Of(s) != keyslot.Of(redstream.DeadLetterKey(s)) {
			t.Fatalf("partition %d and its dead-letter stream are in different slots", i)
		}
	}
	again, err := redstream.CreateTopic(ctx, c, name, 12)
	if err != nil || again.Stream(3) != top.Stream(3) {
		t.Fatalf("CreateTopic of an existing topic: %v", err)
	}
	if _, err := redstream.CreateTopic(ctx, c, name, 6); !errors.Is(err, redstream.ErrTopicExists) {
		t.Fatalf("CreateTopic with another count: %v, want ErrTopicExists", err)
	}
	opened, err := redstream.OpenTopic(ctx, c, name)
	if err != nil || opened.Partitions() != 12 || opened.Stream(11) != top.Stream(11) {
		t.Fatalf("OpenTopic: %v", err)
	}
	if p := top.Partition("customer-42"); p != redstream.PartitionOf("customer-42", 12) || p != top.Partition("customer-42") {
		t.Fatal("a key's partition is not stable")
	}
	for _, bad := range []int{0, -1, redstream.MaxPartitions + 1} {
		if _, err := redstream.CreateTopic(ctx, c, key(t, "bad"), bad); !errors.Is(err, redstream.ErrInvalidOption) {
			t.Errorf("CreateTopic with %d partitions: %v", bad, err)
		}
	}
	if err := redstream.DeleteTopic(ctx, c, name); err != nil {
		t.Fatal(err)
	}
	if _, err := redstream.OpenTopic(ctx, c, name); !errors.Is(err, redstream.ErrNoTopic) {
		t.Fatalf("OpenTopic after delete: %v", err)
	}
}

// orderLog records, per key, the sequence numbers handled, and checks
// that no partition is handled by two consumers at once.
type orderLog struct {
	mu      sync.Mutex
	seqs    map[string][]int
	active  map[string]map[string]int // stream -> consumer -> running handlers
	running map[string]bool           // entry IDs being handled
	overlap []string

	// gate, when set before the consumers start, holds every handler
	// (counted as running) until it is closed.
	gate <-chan struct{}
}

func newOrderLog() *orderLog {
	return &orderLog{seqs: map[string][]int{}, active: map[string]map[string]int{}, running: map[string]bool{}}
}

func (l *orderLog) handler(name string, work time.Duration) redstream.Handler {
	return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		l.mu.Lock()
		if l.active[m.Stream] == nil {
			l.active[m.Stream] = map[string]int{}
		}
		for other, n := range l.active[m.Stream] {
			if other != name && n > 0 {
				l.overlap = append(l.overlap, fmt.Sprintf("%s handled by %s while %s was", m.Stream, name, other))
			}
		}
		l.active[m.Stream][name]++
		if l.running[m.Stream+" "+m.ID] {
			l.overlap = append(l.overlap, fmt.Sprintf("%s %s handled twice at once (%s)", m.Stream, m.ID, name))
		}
		l.running[m.Stream+" "+m.ID] = true
		l.mu.Unlock()
		if l.gate != nil {
			<-l.gate
		}
		if work > 0 {
			time.Sleep(work)
		}
		seq, _ := strconv.Atoi(m.Value("seq"))
		l.mu.Lock()
		k := m.Value(redstream.KeyField)
		l.seqs[k] = append(l.seqs[k], seq)
		l.active[m.Stream][name]--
		delete(l.running, m.Stream+" "+m.ID)
		l.mu.Unlock()
		return nil
	})
}

// runningOn reports whether consumer name has a handler running on
// stream now.
func (l *orderLog) runningOn(stream, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.active[stream][name] > 0
}

// check verifies every key's sequence is 0..n-1 in order, where a repeat
// is allowed only of the event handled just before (a crash between
// handling and acknowledging), and returns how many repeats it saw.
func (l *orderLog) check(t *testing.T, keys, perKey int) (repeats int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, o := range l.overlap {
		t.Errorf("two owners at once: %s", o)
	}
	for k := range keys {
		got := l.seqs[fmt.Sprintf("key-%d", k)]
		next := 0
		for i, s := range got {
			switch {
			case s == next:
				next++
			case i > 0 && s == got[i-1] && s == next-1:
				repeats++
			default:
				t.Fatalf("key-%d: handled %v: %d out of order at position %d", k, head(got, i+3), s, i)
			}
		}
		if next != perKey {
			t.Fatalf("key-%d: handled up to %d of %d", k, next, perKey)
		}
	}
	t.Logf("%d keys × %d events in order; %d repeats of a last event", keys, perKey, repeats)
	return repeats
}

// complete reports whether every key's last event has been handled
// (check then verifies the ones before).
func (l *orderLog) complete(keys, perKey int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range keys {
		got := l.seqs[fmt.Sprintf("key-%d", k)]
		if len(got) == 0 || got[len(got)-1] != perKey-1 {
			return false
		}
	}
	return true
}

func head(s []int, n int) []int {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (l *orderLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.seqs {
		n += len(s)
	}
	return n
}

func publishKeyed(t *testing.T, p *redstream.Publisher, top *redstream.Topic, keys, perKey int) {
	t.Helper()
	var batch []redstream.KeyedEntry
	for s := range perKey {
		for k := range keys {
			batch = append(batch, redstream.KeyedEntry{Key: fmt.Sprintf("key-%d", k), Fields: redstream.Fields("seq", strconv.Itoa(s))})
		}
		if len(batch) >= 1000 || s == perKey-1 {
			if _, err := p.PublishTopic(context.Background(), top, batch...); err != nil {
				t.Error(err)
				return
			}
			batch = batch[:0]
		}
	}
}

func ownedCounts(cons []*redstream.TopicConsumer) []int {
	var out []int
	for _, c := range cons {
		out = append(out, len(c.Owned()))
	}
	sort.Ints(out)
	return out
}

func balanced(cons []*redstream.TopicConsumer, n int) bool {
	total := 0
	c := len(cons)
	for _, x := range cons {
		o := len(x.Owned())
		if o < n/c || o > (n+c-1)/c {
			return false
		}
		total += o
	}
	return total == n
}

func TestTopicRebalancesAndKeepsKeyOrder(t *testing.T) {
	srv := sharedRedis(t)
	rebalanceScenario(t, dial(t, srv))
}

// rebalanceScenario publishes 100 keys × 200 events to a 12-partition
// topic while its consumers go 1 → 3 → 2 (one dies) → 1 (one leaves) → 2, and
// checks the split is balanced within the bound each time, no partition
// has two owners handling at once, and every key is handled in order.
func rebalanceScenario(t *testing.T, c rueidis.Client) {
	ctx := ctxT(t, 2*time.Minute)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 12)
	if err != nil {
		t.Fatal(err)
	}
	log := newOrderLog()
	// A lease long enough that heartbeats delayed on a loaded machine stay
	// small beside it: the bounds below are in leases, as documented.
	lease := time.Second
	start := func(name string) (*redstream.TopicConsumer, <-chan error) {
		tc, err := redstream.NewTopicConsumer(c, top, "g", log.handler(name, 200*time.Microsecond), redstream.Name(name), redstream.Lease(lease), redstream.Block(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tc.Run(context.Background()) }()
		t.Cleanup(func() { tc.Close() })
		return tc, done
	}
	bound := 3 * lease // documented: about the lease length, plus heartbeats
	took := func(began time.Time) string {
		d := time.Since(began)
		return fmt.Sprintf("%v (%.1f leases)", d.Round(10*time.Millisecond), float64(d)/float64(lease))
	}

	a, aDone := start("a")
	waitFor(t, bound, "a owns all 12", func() bool { return len(a.Owned()) == 12 })

	const keys, perKey = 100, 200
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		p, _ := redstream.NewPublisher(c)
		publishKeyed(t, p, top, keys, perKey)
	}()

	b, bDone := start("b")
	cc, _ := start("c")
	began := time.Now()
	waitFor(t, bound, "1 -> 3 balanced", func() bool { return balanced([]*redstream.TopicConsumer{a, b, cc}, 12) })
	t.Logf("balanced 4/4/4 in %s", took(began))

	// c dies (Close: its leases must expire): 3 -> 2.
	cc.Close()
	began = time.Now()
	waitFor(t, bound+lease, "3 -> 2 balanced (c died)", func() bool { return balanced([]*redstream.TopicConsumer{a, b}, 12) })
	t.Logf("balanced 6/6 after c died in %s", took(began))
	// b leaves gracefully: 2 -> 1, then d joins: 1 -> 2.
	if err := b.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-bDone
	began = time.Now()
	waitFor(t, bound, "2 -> 1 (b left)", func() bool { return len(a.Owned()) == 12 })
	t.Logf("a took all partitions back in %s", took(began))
	d, _ := start("d")
	began = time.Now()
	waitFor(t, bound, "1 -> 2 balanced", func() bool { return balanced([]*redstream.TopicConsumer{a, d}, 12) })
	t.Logf("balanced 6/6 after d joined in %s", took(began))

	<-pubDone
	waitFor(t, 60*time.Second, "all events handled", func() bool { return log.complete(keys, perKey) && pendingAll(t, c, top) == 0 })
	a.Shutdown(ctxT(t, 10*time.Second))
	<-aDone
	d.Shutdown(ctxT(t, 10*time.Second))
	log.check(t, keys, perKey)
}

func pendingAll(t *testing.T, c rueidis.Client, top *redstream.Topic) int64 {
	t.Helper()
	var n int64
	for _, s := range top.Streams() {
		n += pendingCount(t, c, s, "g")
	}
	return n
}

func TestInspectorTopicShowsOwnersLagAndPending(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	name := key(t, "t")
	top, err := redstream.CreateTopic(ctx, c, name, 4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.KeyedEntry
	for i := range 40 {
		batch = append(batch, redstream.KeyedEntry{Key: "k" + strconv.Itoa(i), Fields: redstream.Fields("seq", "0")})
	}
	if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
		t.Fatal(err)
	}
	var handled sync.Map
	tc, _ := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		handled.Store(m.ID, true)
		return nil
	}), redstream.Name("solo"), redstream.Lease(3*time.Second))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	defer func() { tc.Shutdown(ctxT(t, 5*time.Second)); <-done }()
	waitFor(t, 10*time.Second, "all 40 handled", func() bool { return tc.Stats().Handled == 40 })

	info, err := redstream.NewInspector(c).Topic(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Partitions) != 4 || len(info.Groups) != 1 || info.Groups[0] != "g" {
		t.Fatalf("topic info %+v", info)
	}
	var total int64
	for _, part := range info.Partitions {
		total += part.Length
		if part.Node != "" {
			t.Fatalf("partition %d on node %q on a single server", part.Partition, part.Node)
		}
		g := part.Groups[0]
		if g.Owner != "solo" || g.Generation < 1 || g.LeaseLeft <= 0 || g.Pending != 0 || g.Lag == nil || *g.Lag != 0 {
			t.Fatalf("partition %d group view %+v (lag %v)", part.Partition, g, g.Lag)
		}
	}
	if total != 40 {
		t.Fatalf("partitions hold %d entries, want 40", total)
	}
}

func TestTopicFailingEventHoldsItsKeyOnly(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 30*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var batch []redstream.KeyedEntry
	for s := range 5 {
		for _, k := range []string{"bad", "good"} {
			batch = append(batch, redstream.KeyedEntry{Key: k, Fields: redstream.Fields("seq", strconv.Itoa(s))})
		}
	}
	if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	order := map[string][]string{}
	failures := 0
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		defer mu.Unlock()
		k, s := m.Value(redstream.KeyField), m.Value("seq")
		if k == "bad" && s == "1" && failures < 3 {
			failures++
			return errors.New("flaky")
		}
		order[k] = append(order[k], s)
		return nil
	})
	tc, _ := redstream.NewTopicConsumer(c, top, "g", h, redstream.RetryBackoff(200*time.Millisecond, 200*time.Millisecond), redstream.MaxDeliveries(0))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "good done while bad retries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["good"]) == 5
	})
	mu.Lock()
	if got := order["bad"]; len(got) > 1 {
		mu.Unlock()
		t.Fatalf("bad key ran past its failing event: %v", got)
	}
	mu.Unlock()
	waitFor(t, 10*time.Second, "bad done after its retries", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order["bad"]) == 5
	})
	tc.Shutdown(ctxT(t, 5*time.Second))
	<-done
	if fmt.Sprint(order["bad"]) != "[0 1 2 3 4]" || fmt.Sprint(order["good"]) != "[0 1 2 3 4]" || failures != 3 {
		t.Fatalf("order bad %v good %v after %d failures", order["bad"], order["good"], failures)
	}
}

func TestPublishTopicWaitKeepsInputOrder(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 10*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(c)
	var evs []redstream.KeyedEntry
	for i := range 20 {
		evs = append(evs, redstream.KeyedEntry{Key: "k" + strconv.Itoa(i), Fields: redstream.Fields("i", strconv.Itoa(i))})
	}
	rc, acks, err := p.PublishTopicWait(ctx, top, 0, 100*time.Millisecond, evs...)
	if err != nil || len(rc) != 20 || len(acks) == 0 {
		t.Fatalf("PublishTopicWait = %d receipts, %d acks, %v", len(rc), len(acks), err)
	}
	for i, r := range rc {
		if r.Partition != top.Partition("k"+strconv.Itoa(i)) {
			t.Fatalf("receipt %d partition %d, want %d", i, r.Partition, top.Partition("k"+strconv.Itoa(i)))
		}
		got, _ := srv.Do(t, "XRANGE", top.Stream(r.Partition), r.ID, r.ID).AsXRangeSlices()
		if len(got) != 1 || got[0].FieldValues[1].Value != strconv.Itoa(i) {
			t.Fatalf("receipt %d points at %v", i, got)
		}
	}
}

// leaseGenerations returns, per partition of topic, the generation of
// group g's lease (0 when free), from the Inspector.
func leaseGenerations(t *testing.T, c rueidis.Client, topic string) []int64 {
	t.Helper()
	info, err := redstream.NewInspector(c).Topic(ctxT(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("inspect topic: %v", err)
	}
	var gens []int64
	for _, p := range info.Partitions {
		var g int64
		for _, pg := range p.Groups {
			if pg.Group == "g" {
				g = pg.Generation
			}
		}
		gens = append(gens, g)
	}
	return gens
}

// After a stall longer than the lease's validity, a consumer that gets its
// leases back must handle its partitions again (not keep them idle).
func TestTopicResumesAfterLeasesLapse(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 60*time.Second)
	top, err := redstream.CreateTopic(ctx, c, "lapse", 2)
	if err != nil {
		t.Fatal(err)
	}
	// The consumer stops handling two thirds of a lease after its last
	// renewal; the server keeps the lease for a whole one. A stall that
	// ends in between gives the consumer its leases back, same generations.
	const lease = 3 * time.Second
	var n atomic.Int64
	tc, _ := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		n.Add(1)
		return nil
	}), redstream.Lease(lease), redstream.Block(50*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	defer func() { tc.Close(); <-done }()
	waitFor(t, 10*time.Second, "owns both", func() bool { return len(tc.Owned()) == 2 })
	before := leaseGenerations(t, c, "lapse")
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stalled := time.Now()
	waitFor(t, lease, "the consumer to stop handling during the stall", func() bool { return len(tc.Owned()) == 0 })
	if err := srv.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("stopped handling %v into the stall", time.Since(stalled).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "owns both again", func() bool { return len(tc.Owned()) == 2 })
	if after := leaseGenerations(t, c, "lapse"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("lease generations %v -> %v: the stall outlasted the server's lease, so the leases were not got back", before, after)
	}
	p, _ := redstream.NewPublisher(c)
	var evs []redstream.KeyedEntry
	for i := range 20 {
		evs = append(evs, redstream.KeyedEntry{Key: strconv.Itoa(i), Fields: redstream.Fields("i", strconv.Itoa(i))})
	}
	if _, err := p.PublishTopic(ctx, top, evs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "events handled after the lapse", func() bool { return n.Load() == 20 })
}

// A partition handed over while its slow handler runs, and wanted back
// before that handler finishes, must never run twice at once.
func TestTopicHandOverWaitsForSlowHandlers(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	ctx := ctxT(t, 60*time.Second)
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 2)
	if err != nil {
		t.Fatal(err)
	}
	const lease = 3 * time.Second
	log := newOrderLog()
	slow := make(chan struct{}) // the handlers run until it is closed
	log.gate = slow
	mk := func(name string) (*redstream.TopicConsumer, chan error) {
		tc, _ := redstream.NewTopicConsumer(c, top, "g", log.handler(name, 0), redstream.Name(name),
			redstream.Lease(lease), redstream.Block(50*time.Millisecond))
		done := make(chan error, 1)
		go func() { done <- tc.Run(context.Background()) }()
		t.Cleanup(func() { tc.Close() })
		return tc, done
	}
	a, aDone := mk("a")
	waitFor(t, 10*time.Second, "a owns both", func() bool { return len(a.Owned()) == 2 })
	p, _ := redstream.NewPublisher(c)
	publishKeyed(t, p, top, 4, 3) // two keys on each partition
	waitFor(t, 10*time.Second, "a's handlers running on both partitions", func() bool {
		return log.runningOn(top.Stream(0), "a") && log.runningOn(top.Stream(1), "a")
	})
	b, bDone := mk("b")
	waitFor(t, 10*time.Second, "a gives one partition up", func() bool { return len(a.Owned()) == 1 })
	given := 1 - a.Owned()[0]
	if !log.runningOn(top.Stream(given), "a") || len(b.Owned()) != 0 {
		t.Fatalf("partition %d given up: a's handler running on it %v, b owns %v; want a still handling it and b waiting",
			given, log.runningOn(top.Stream(given), "a"), b.Owned())
	}
	// b leaves (gracefully) before a's handler on the given-up partition
	// finishes: a's share goes back to 2 while that partition still drains.
	if err := b.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-bDone
	// Two heartbeats of a's with b gone, each seen as a renewal of a's
	// lease on the partition past what any renewal before it could give:
	// a second run started by the first would be handling by the second.
	renewedAfter := func(since time.Time) func() bool {
		return func() bool {
			asked := time.Now()
			info, err := redstream.NewInspector(c).Topic(ctxT(t, 5*time.Second), top.Name)
			if err != nil {
				t.Fatal(err)
			}
			g := info.Partitions[given].Groups[0]
			return g.Owner == "a" && asked.Add(g.LeaseLeft).After(since.Add(lease))
		}
	}
	waitFor(t, 10*time.Second, "a heartbeat of a's with b gone", renewedAfter(time.Now()))
	waitFor(t, 10*time.Second, "another heartbeat of a's", renewedAfter(time.Now()))
	if !log.runningOn(top.Stream(given), "a") {
		t.Fatal("a's handler on the given-up partition finished before a wanted it back")
	}
	close(slow)
	waitFor(t, 30*time.Second, "all handled", func() bool { return log.complete(4, 3) })
	a.Shutdown(ctxT(t, 10*time.Second))
	<-aDone
	if repeats := log.check(t, 4, 3); repeats != 0 {
		t.Fatalf("%d events handled twice: the partition ran twice", repeats)
	}
}
