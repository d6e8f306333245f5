package redstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/keyslot"
	"github.com/redstream-go/redstream/internal/redisproc"
	"github.com/redstream-go/redstream/redstreamtest"
)

// countingClient counts and records what a Publisher sends. If hold is
// set, Do and DoMulti call it after their commands went to Redis and
// before they hand back the replies, so a test can keep a send in flight.
type countingClient struct {
	rueidis.Client
	do, doMulti atomic.Int64
	hold        func(multi bool, keys []string)

	mu     sync.Mutex
	doCtxs []context.Context // the ctx of each Do
	multis [][]string        // the keys of each DoMulti's commands
}

func (c *countingClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	keys := []string{cmd.Commands()[1]} // the client recycles cmd once sent
	c.do.Add(1)
	c.mu.Lock()
	c.doCtxs = append(c.doCtxs, ctx)
	c.mu.Unlock()
	r := c.Client.Do(ctx, cmd)
	if c.hold != nil {
		c.hold(false, keys)
	}
	return r
}

func (c *countingClient) DoMulti(ctx context.Context, cmds ...rueidis.Completed) []rueidis.RedisResult {
	keys := make([]string, len(cmds))
	for i, cmd := range cmds {
		keys[i] = cmd.Commands()[1]
	}
	c.doMulti.Add(1)
	c.mu.Lock()
	c.multis = append(c.multis, keys)
	c.mu.Unlock()
	r := c.Client.DoMulti(ctx, cmds...)
	if c.hold != nil {
		c.hold(true, keys)
	}
	return r
}

func (c *countingClient) sends() (doCtxs []context.Context, multis [][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]context.Context(nil), c.doCtxs...), append([][]string(nil), c.multis...)
}

// gate holds what waits on it until it is opened, at the latest when the
// test ends.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{ch: make(chan struct{})}
	t.Cleanup(g.open)
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }
func (g *gate) wait() { <-g.ch }

// holdAlone returns a hold that keeps the replies of the first
// coalesceAlone Do calls until g opens: the calls sent at once, alone.
func holdAlone(g *gate) func(bool, []string) {
	var held atomic.Int64
	return func(multi bool, _ []string) {
		if !multi && held.Add(1) <= coalesceAlone {
			g.wait()
		}
	}
}

// occupy makes as many calls as may be in flight before calls queue, each
// of which must be sent at once although the others are in flight, and
// returns their results. With holdAlone they stay in flight until the gate
// opens, so that further calls queue.
func occupy(t *testing.T, p *Publisher, cc *countingClient, stream string) []<-chan error {
	t.Helper()
	var calls []<-chan error
	for i := range p.out.alone {
		calls = append(calls, publishAsync(context.Background(), p, stream, "first"+strconv.Itoa(i)))
		eventually(t, 10*time.Second, fmt.Sprintf("call %d sent at once", i), func() bool { return cc.do.Load() == int64(i+1) })
	}
	if n := queued(p.out); n != 0 {
		t.Fatalf("%d calls queued while fewer than %d were in flight", n, p.out.alone)
	}
	return calls
}

func waitAll(t *testing.T, calls []<-chan error) {
	t.Helper()
	for i, c := range calls {
		if err := within(t, "call "+strconv.Itoa(i), c); err != nil {
			t.Fatal(err)
		}
	}
}

// publishMetrics counts Published reports by stream.
type publishMetrics struct {
	NopMetrics
	mu       sync.Mutex
	ok, fail map[string]int
}

func (m *publishMetrics) Published(stream string, n int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok == nil {
		m.ok, m.fail = map[string]int{}, map[string]int{}
	}
	if err != nil {
		m.fail[stream] += n
	} else {
		m.ok[stream] += n
	}
}

func (m *publishMetrics) counts(stream string) (ok, fail int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ok[stream], m.fail[stream]
}

func countingPublisher(t *testing.T, hold func(bool, []string), opts ...PublisherOption) (*Publisher, *countingClient, *redstreamtest.Server) {
	t.Helper()
	srv := redstreamtest.StartRedis(t)
	cc := &countingClient{Client: srv.Client(t), hold: hold}
	p, err := NewPublisher(cc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p, cc, srv
}

// queued returns how many calls wait for the coalescer's next send.
func queued(c *coalescer) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.queue == nil {
		return 0
	}
	return len(c.queue.cmds) - c.queue.ngone
}

func waitingForRoom(c *coalescer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.room != nil
}

// whoByID reads stream and returns each entry's "who" field by entry ID.
func whoByID(t *testing.T, c rueidis.Client, stream string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	entries, err := c.Do(ctx, c.B().Xrange().Key(stream).Start("-").End("+").Build()).AsXRangeSlices()
	if err != nil {
		t.Fatal(err)
	}
	who := make(map[string]string, len(entries))
	for _, e := range entries {
		for _, fv := range e.FieldValues {
			if fv.Field == "who" {
				who[e.ID] = fv.Value
			}
		}
	}
	return who
}

func publishAsync(ctx context.Context, p *Publisher, stream, who string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, stream, Fields("who", who))
		done <- err
	}()
	return done
}

func within(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10s", what)
		return nil
	}
}

// A call that finds nothing in flight is sent at once, by its caller, on
// its own ctx: one Do, no DoMulti, no waiting for company, and nothing left
// behind that could delay it.
func TestPublishAloneIsSentAtOnce(t *testing.T) {
	p, cc, srv := countingPublisher(t, nil)
	type callKey struct{}
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), callKey{}, i), 5*time.Second)
		id, err := p.Publish(ctx, "s", Fields("who", strconv.Itoa(i)))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if d, m := cc.do.Load(), cc.doMulti.Load(); d != int64(i+1) || m != 0 {
			t.Fatalf("after %d lone calls: %d Do and %d DoMulti, want %d and 0", i+1, d, m, i+1)
		}
		doCtxs, _ := cc.sends()
		if got := doCtxs[i].Value(callKey{}); got != i {
			t.Fatalf("call %d was sent on another ctx (value %v): not by its caller", i, got)
		}
		if p.out.sending != 0 || p.out.flushing || queued(p.out) != 0 {
			t.Fatalf("after call %d the publisher is not idle", i)
		}
		if who := whoByID(t, srv.Client(t), "s"); who[id] != strconv.Itoa(i) {
			t.Fatalf("call %d: entry %s holds %q", i, id, who[id])
		}
	}
}

// Calls made while the most callers' sends are in flight wait and then go
// together in one DoMulti, each with its own ID; a WRONGTYPE reply to one
// of them fails that call only.
func TestPublishCallsDuringASendGoTogether(t *testing.T) {
	g := newGate(t)
	m := &publishMetrics{}
	p, cc, srv := countingPublisher(t, holdAlone(g), WithPublishMetrics(m))
	srv.Do(t, "SET", "bad", "not a stream")
	ctx := context.Background()
	first := occupy(t, p, cc, "s")

	const n, bad = 20, 7
	ids, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		stream := "s"
		if i == bad {
			stream = "bad"
		}
		wg.Go(func() { ids[i], errs[i] = p.Publish(ctx, stream, Fields("who", strconv.Itoa(i))) })
	}
	eventually(t, 10*time.Second, "20 calls queued", func() bool { return queued(p.out) == n })
	if d, mu := cc.do.Load(), cc.doMulti.Load(); d != coalesceAlone || mu != 0 {
		t.Fatalf("while %d calls were in flight: %d Do, %d DoMulti; want the others to wait", coalesceAlone, d, mu)
	}
	g.open()
	wg.Wait()
	waitAll(t, first)

	if _, multis := cc.sends(); len(multis) != 1 || len(multis[0]) != n {
		t.Fatalf("DoMulti calls %v, want one with all %d queued calls", multis, n)
	}
	who := whoByID(t, srv.Client(t), "s")
	if len(who) != coalesceAlone+n-1 {
		t.Fatalf("stream holds %d entries, want %d", len(who), coalesceAlone+n-1)
	}
	for i := range n {
		if i == bad {
			var e *Error
			if !errors.Is(errs[i], ErrNotStream) || !errors.As(errs[i], &e) || e.Key != "bad" || ids[i] != "" {
				t.Fatalf("call to the string key: id %q, error %v; want ErrNotStream for key bad", ids[i], errs[i])
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("call %d failed with another call's error: %v", i, errs[i])
		}
		if who[ids[i]] != strconv.Itoa(i) {
			t.Fatalf("call %d got ID %s, which holds the entry of call %q", i, ids[i], who[ids[i]])
		}
	}
	if ok, fail := m.counts("s"); ok != coalesceAlone+n-1 || fail != 0 {
		t.Fatalf("metrics for s: %d published, %d failed; want %d, 0", ok, fail, coalesceAlone+n-1)
	}
	if ok, fail := m.counts("bad"); ok != 0 || fail != 1 {
		t.Fatalf("metrics for bad: %d published, %d failed; want 0, 1", ok, fail)
	}
}

// While the flusher has a DoMulti in flight, a new call queues behind it
// even though no caller's own send is in flight: under load every call
// goes in the next DoMulti.
func TestPublishQueuesWhileAFlushIsInFlight(t *testing.T) {
	aloneDone, reply := newGate(t), newGate(t)
	flushing := make(chan struct{})
	var once sync.Once
	hold := holdAlone(aloneDone)
	p, cc, srv := countingPublisher(t, func(multi bool, keys []string) {
		if !multi {
			hold(multi, keys)
			return
		}
		once.Do(func() { close(flushing) })
		reply.wait() // the first DoMulti; the gate is open for later ones
	})
	first := occupy(t, p, cc, "s")
	a := publishAsync(context.Background(), p, "s", "A")
	eventually(t, 10*time.Second, "A queued", func() bool { return queued(p.out) == 1 })
	aloneDone.open()
	<-flushing // A's DoMulti is in flight, its reply held
	waitAll(t, first)
	c := publishAsync(context.Background(), p, "s", "C")
	eventually(t, 10*time.Second, "C queued behind the flush", func() bool { return queued(p.out) == 1 })
	if d := cc.do.Load(); d != coalesceAlone {
		t.Fatalf("%d Do calls: a call was sent alone while a flush was in flight", d)
	}
	reply.open()
	if err := within(t, "call A", a); err != nil {
		t.Fatal(err)
	}
	if err := within(t, "call C", c); err != nil {
		t.Fatal(err)
	}
	if _, multis := cc.sends(); len(multis) != 2 || len(multis[0]) != 1 || len(multis[1]) != 1 {
		t.Fatalf("DoMulti calls %v, want A's, then C's", multis)
	}
	if n := len(whoByID(t, srv.Client(t), "s")); n != coalesceAlone+2 {
		t.Fatalf("stream holds %d entries, want %d", n, coalesceAlone+2)
	}
}

// A call whose ctx ends while it waits for the sends in flight returns at
// once with ctx's error, and its entry is never sent.
func TestPublishCancelledWhileQueuedIsNeverSent(t *testing.T) {
	g := newGate(t)
	m := &publishMetrics{}
	p, cc, srv := countingPublisher(t, holdAlone(g), WithPublishMetrics(m))
	first := occupy(t, p, cc, "s")
	ctxA, cancelA := context.WithCancel(context.Background())
	a := publishAsync(ctxA, p, "s", "A")
	eventually(t, 10*time.Second, "A queued", func() bool { return queued(p.out) == 1 })
	var idB string
	b := make(chan error, 1)
	go func() { // queued after A
		var err error
		idB, err = p.Publish(context.Background(), "s", Fields("who", "B"))
		b <- err
	}()
	eventually(t, 10*time.Second, "B queued", func() bool { return queued(p.out) == 2 })

	cancelA()
	if err := within(t, "cancelled call", a); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: error %v, want context.Canceled", err)
	}
	g.open()
	waitAll(t, first)
	if err := within(t, "call B", b); err != nil {
		t.Fatal(err)
	}
	if _, multis := cc.sends(); len(multis) != 1 || len(multis[0]) != 1 {
		t.Fatalf("DoMulti calls %v, want one with B's command only", multis)
	}
	who := whoByID(t, srv.Client(t), "s")
	got := map[string]bool{}
	for _, w := range who {
		got[w] = true
	}
	if len(got) != coalesceAlone+1 || got["A"] || !got["B"] {
		t.Fatalf("stream holds %v, want the first calls and B, not the cancelled A", got)
	}
	if who[idB] != "B" {
		t.Fatalf("B got ID %q, which holds %q", idB, who[idB])
	}
	if ok, fail := m.counts("s"); ok != coalesceAlone+1 || fail != 1 {
		t.Fatalf("metrics: %d published, %d failed; want %d, 1", ok, fail, coalesceAlone+1)
	}
}

// A call whose ctx ends after its entry was sent returns with ctx's error
// without waiting for the reply; the entry may be written, as documented.
func TestPublishCancelledAfterSendMayBeWritten(t *testing.T) {
	firstDone, reply := newGate(t), newGate(t)
	sent := make(chan struct{})
	var once sync.Once
	hold := holdAlone(firstDone)
	p, cc, srv := countingPublisher(t, func(multi bool, keys []string) {
		if !multi {
			hold(multi, keys)
			return
		}
		once.Do(func() { close(sent) })
		reply.wait()
	})
	first := occupy(t, p, cc, "s")
	ctxA, cancelA := context.WithCancel(context.Background())
	a := publishAsync(ctxA, p, "s", "A")
	eventually(t, 10*time.Second, "A queued", func() bool { return queued(p.out) == 1 })
	firstDone.open()
	<-sent // A's command went to Redis; its reply is held
	cancelA()
	if err := within(t, "cancelled call", a); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: error %v, want context.Canceled", err)
	}
	reply.open()
	waitAll(t, first)
	found := false
	for _, w := range whoByID(t, srv.Client(t), "s") {
		found = found || w == "A"
	}
	if !found {
		t.Fatal("A's entry, sent before its ctx ended, is not in the stream")
	}
}

// No more than the limit of calls wait for the next send: further callers
// block, get in once the queue is taken, or leave when their ctx ends,
// their entries unsent.
func TestPublishQueueIsBounded(t *testing.T) {
	g := newGate(t)
	p, cc, srv := countingPublisher(t, holdAlone(g))
	p.out.limit = 4
	first := occupy(t, p, cc, "s")
	var waiting []<-chan error
	for i := range 4 {
		waiting = append(waiting, publishAsync(context.Background(), p, "s", strconv.Itoa(i)))
	}
	eventually(t, 10*time.Second, "4 calls queued", func() bool { return queued(p.out) == 4 })
	sixth := publishAsync(context.Background(), p, "s", "sixth")
	eventually(t, 10*time.Second, "the sixth call waiting for room", func() bool { return waitingForRoom(p.out) })
	ctx5, cancel5 := context.WithCancel(context.Background())
	fifth := publishAsync(ctx5, p, "s", "fifth")
	if n := queued(p.out); n != 4 {
		t.Fatalf("%d calls queued, limit 4", n)
	}
	cancel5()
	if err := within(t, "fifth call", fifth); !errors.Is(err, context.Canceled) {
		t.Fatalf("call blocked on a full queue: error %v, want context.Canceled", err)
	}
	g.open()
	waitAll(t, append(append(waiting, first...), sixth))
	_, multis := cc.sends()
	for _, m := range multis {
		if len(m) > 4 {
			t.Fatalf("a DoMulti carried %d calls, limit 4", len(m))
		}
	}
	who := whoByID(t, srv.Client(t), "s")
	if len(who) != coalesceAlone+5 {
		t.Fatalf("stream holds %d entries, want %d: the first calls, 4 queued, sixth", len(who), coalesceAlone+5)
	}
	for _, w := range who {
		if w == "fifth" {
			t.Fatal("the call that gave up on a full queue was written")
		}
	}
}

// publishConcurrently has 64 goroutines publish `each` entries, to
// streams[g % len(streams)], and checks that every call got a distinct ID
// of an entry holding its own fields.
func publishConcurrently(t *testing.T, p *Publisher, c rueidis.Client, streams []string, each int) {
	t.Helper()
	const goroutines = 64
	ids := make([][]string, goroutines)
	errs := make(chan error, goroutines)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		ids[g] = make([]string, each)
		wg.Go(func() {
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i := range each {
				id, err := p.Publish(ctx, streams[g%len(streams)], Fields("who", fmt.Sprintf("%d/%d", g, i)))
				if err != nil {
					errs <- err
					return
				}
				ids[g][i] = id
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	who := map[string]string{}
	for _, s := range streams {
		for id, w := range whoByID(t, c, s) {
			who[s+" "+id] = w
		}
	}
	if len(who) != goroutines*each {
		t.Fatalf("streams hold %d entries, want %d", len(who), goroutines*each)
	}
	seen := map[string]bool{}
	for g := range goroutines {
		for i, id := range ids[g] {
			k := streams[g%len(streams)] + " " + id
			if seen[k] {
				t.Fatalf("ID %s returned to two calls", k)
			}
			seen[k] = true
			if want := fmt.Sprintf("%d/%d", g, i); who[k] != want {
				t.Fatalf("call %s got ID %s, which holds the entry of call %q", want, k, who[k])
			}
		}
	}
}

func TestConcurrentPublishesGetTheirOwnIDs(t *testing.T) {
	p, cc, srv := countingPublisher(t, nil)
	const each = 100
	publishConcurrently(t, p, srv.Client(t), []string{"s0", "s1", "s2", "s3"}, each)
	d, m := cc.do.Load(), cc.doMulti.Load()
	if m == 0 || d+m > 64*each/4 {
		t.Fatalf("%d publishes took %d Do and %d DoMulti: concurrent calls are not coalesced", 64*each, d, m)
	}
	t.Logf("%d concurrent publishes in %d Do and %d DoMulti", 64*each, d, m)
}

func TestConcurrentPublishesKeepMaxLen(t *testing.T) {
	p, cc, srv := countingPublisher(t, nil, MaxLen(1000))
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 100 {
				if _, err := p.Publish(context.Background(), "s", Fields("a", "b")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if cc.doMulti.Load() == 0 {
		t.Fatal("no call was coalesced")
	}
	if n, _ := srv.Do(t, "XLEN", "s").AsInt64(); n < 1000 || n > 1200 {
		t.Fatalf("XLEN = %d after 6400 coalesced publishes with MaxLen(1000), want about 1000", n)
	}
}

// On a cluster, concurrent calls to streams on different masters each get
// their own ID, a send carries one slot's calls, and a send held up on one
// slot does not hold up calls for another.
func TestConcurrentPublishesOnACluster(t *testing.T) {
	cl, err := redisproc.StartCluster(t.TempDir(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Dial(ctx, cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	var streams []string // one in each third of the slots, on each master
	for i := 0; len(streams) < 3; i++ {
		s := fmt.Sprintf("{orders-%d}", i)
		if int(keyslot.Of(s))*3/keyslot.Slots == len(streams) {
			streams = append(streams, s)
		}
	}
	cc := &countingClient{Client: c}
	p, _ := NewPublisher(cc)
	publishConcurrently(t, p, c, streams, 50)
	_, multis := cc.sends()
	if len(multis) == 0 {
		t.Fatal("no call was coalesced")
	}
	for _, m := range multis {
		for _, k := range m {
			if k != m[0] {
				t.Fatalf("one DoMulti carried calls for %s and %s", m[0], k)
			}
		}
	}

	g := newGate(t)
	held := &countingClient{Client: c, hold: func(_ bool, keys []string) {
		if keys[0] == streams[0] {
			g.wait()
		}
	}}
	p, _ = NewPublisher(held)
	slow := publishAsync(ctx, p, streams[0], "slow")
	eventually(t, 10*time.Second, "the call to the slow slot in flight", func() bool { return held.do.Load() == 1 })
	other, cancelOther := context.WithTimeout(ctx, 3*time.Second)
	defer cancelOther()
	if _, err := p.Publish(other, streams[1], Fields("who", "other")); err != nil {
		t.Fatalf("a call for another master waited for the held one: %v", err)
	}
	g.open()
	if err := within(t, "the held call", slow); err != nil {
		t.Fatal(err)
	}
}
