package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"go.uber.org/goleak"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// consumerProc is a consumer running as its own OS process.
type consumerProc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func startConsumerProc(t *testing.T, srv *redstreamtest.Server, stream, group, name string) *consumerProc {
	t.Helper()
	return startProc(t, "consumer", name, "REDSTREAM_URL="+srv.URL(), "REDSTREAM_STREAM="+stream, "REDSTREAM_GROUP="+group, "REDSTREAM_WORK=1ms")
}

// startProc runs this test binary again as a fault-test process of the
// given role (see runFaultProcess), killed when the test ends.
func startProc(t *testing.T, role, name string, env ...string) *consumerProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), faultRoleEnv+"="+role, "REDSTREAM_NAME="+name), env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: name + ": "}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s process: %v", role, err)
	}
	p := &consumerProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// prefixWriter passes a child's stderr to the test log.
type prefixWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	done   atomic.Bool
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" && !w.done.Load() {
			w.t.Log(w.prefix + line)
		}
	}
	return len(b), nil
}

func TestFaultConsumerProcessesKilledWhileWorking(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream, group := "crash", "g"
	srv.Do(t, "XGROUP", "CREATE", stream, group, "0", "MKSTREAM")

	names := []string{"c0", "c1", "c2"}
	procs := make([]*consumerProc, 3)
	for i, n := range names {
		procs[i] = startConsumerProc(t, srv, stream, group, n)
	}

	// Publish 20,000 events over about ten seconds while killing one
	// random consumer with SIGKILL about every second and restarting it:
	// under the same name (it resumes its own entries) or, every other
	// time, a new one (its old entries must be taken over by the others).
	const total = 20000
	var published []string
	pubDone := make(chan error, 1)
	go func() {
		p, _ := redstream.NewPublisher(c)
		for i := 0; i < total; i += 200 {
			var batch []redstream.Entry
			for j := i; j < i+200; j++ {
				batch = append(batch, redstream.Entry{Stream: stream, Fields: redstream.Fields("n", fmt.Sprint(j))})
			}
			ids, err := p.PublishBatch(context.Background(), batch)
			if err != nil {
				pubDone <- err
				return
			}
			published = append(published, ids...)
			time.Sleep(100 * time.Millisecond)
		}
		pubDone <- nil
	}()
	kills := 0
	gen := 0
	for publishing := true; publishing; {
		select {
		case err := <-pubDone:
			if err != nil {
				t.Fatal(err)
			}
			publishing = false
		case <-time.After(time.Duration(800+rand.IntN(400)) * time.Millisecond):
			i := rand.IntN(3)
			_ = procs[i].cmd.Process.Signal(syscall.SIGKILL)
			<-procs[i].done
			kills++
			if kills%2 == 0 {
				gen++
				names[i] = fmt.Sprintf("c%d-gen%d", i, gen)
			}
			procs[i] = startConsumerProc(t, srv, stream, group, names[i])
		}
	}

	if kills == 0 {
		t.Fatal("publishing ended before any consumer was killed")
	}

	// Everything must be handled and nothing left pending.
	handledKey := stream + ":handled"
	deadline := time.Now().Add(90 * time.Second)
	for {
		n, _ := srv.Do(t, "HLEN", handledKey).AsInt64()
		p := pendingCount(t, c, stream, group)
		if n >= total && p == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the kills: %d of %d entries handled, %d pending", n, total, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	counts, err := srv.Do(t, "HGETALL", handledKey).AsIntMap()
	if err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, id := range published {
		n, ok := counts[id]
		if !ok {
			t.Fatalf("entry %s was never handled", id)
		}
		dups += int(n - 1)
	}
	if dl, _ := srv.Do(t, "XLEN", redstream.DeadLetterKey(stream)).AsInt64(); dl != 0 {
		t.Fatalf("%d entries reached the dead-letter stream", dl)
	}
	// A kill can repeat what was in flight: running handlers (8) and
	// handled entries whose batched ack was not sent yet (at most 64).
	if bound := kills * (8 + 64); dups > bound {
		t.Fatalf("%d duplicates after %d kills, more than the %d that can be in flight", dups, kills, bound)
	}
	t.Logf("%d events, %d kills, %d handled twice or more (bound %d)", total, kills, dups, kills*(8+64))

	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("consumer exited with %v after SIGTERM", p.err)
			}
		case <-time.After(20 * time.Second):
			t.Error("consumer did not stop after SIGTERM")
		}
	}
}

// recorder counts handlings per entry ID in memory.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int
}

func (r *recorder) add(id string) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[id]++
	r.mu.Unlock()
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.seen)
}

func TestFaultRedisKilledAndRestartedWithAOF(t *testing.T) {
	srv := redstreamtest.StartRedis(t, redstreamtest.AppendOnly("always"))
	c := dial(t, srv)
	stream := "aof"
	var rec recorder
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.Block(100*time.Millisecond),
		redstream.ClaimMinIdle(time.Second), redstream.ClaimInterval(200*time.Millisecond))
	done := runConsumer(t, cons)

	p, _ := redstream.NewPublisher(c)
	var pubMu sync.Mutex
	var okIDs []string
	var failures int
	published := func() (ok, failed int) {
		pubMu.Lock()
		defer pubMu.Unlock()
		return len(okIDs), failures
	}
	stopPub := make(chan struct{})
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		for i := 0; ; i++ {
			select {
			case <-stopPub:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			id, err := p.Publish(ctx, stream, redstream.Fields("n", fmt.Sprint(i)))
			cancel()
			pause := time.Millisecond
			pubMu.Lock()
			if err != nil {
				failures++
				pause = 10 * time.Millisecond
			} else {
				okIDs = append(okIDs, id)
			}
			pubMu.Unlock()
			time.Sleep(pause)
		}
	}()
	flowing := func(when string) {
		t.Helper()
		ok0, _ := published()
		handled0 := rec.len()
		waitFor(t, 30*time.Second, "publishes succeeding and being handled "+when, func() bool {
			ok, _ := published()
			return ok >= ok0+100 && rec.len() >= handled0+100
		})
	}
	// Twice: while entries flow and are handled, Redis is killed, stays
	// down until a publish has failed, and restarts from its AOF.
	for round := range 2 {
		flowing(fmt.Sprintf("before kill %d", round+1))
		_, failed0 := published()
		srv.Kill() // SIGKILL
		waitFor(t, 30*time.Second, "a publish failing while Redis is down", func() bool {
			_, failed := published()
			return failed > failed0
		})
		srv.Restart()
	}
	flowing("after the last restart")
	close(stopPub)
	<-pubDone
	if failures == 0 {
		t.Fatal("no publish failed: the server was not down while publishing")
	}
	waitFor(t, 60*time.Second, "every acknowledged publish handled", func() bool {
		for _, id := range okIDs {
			if rec.count(id) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("%d publishes succeeded, %d failed while Redis was down; all succeeded ones handled", len(okIDs), failures)
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFaultRedisStalledWithSIGSTOP(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	snapshot := goleak.IgnoreCurrent()
	c, err := redstream.Dial(ctxT(t, 5*time.Second), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	stream := "stall"
	var rec recorder
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	}), redstream.StartID("0"), redstream.Block(100*time.Millisecond))
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	p, _ := redstream.NewPublisher(c)
	publish := func(n int) []string {
		var ids []string
		for i := range n {
			id, err := p.Publish(ctxT(t, 30*time.Second), stream, redstream.Fields("i", fmt.Sprint(i)))
			if err != nil {
				t.Fatalf("publish after the stall: %v", err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	before := publish(50)
	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stalled := make(chan error, 1)
	go func() { // a publish during the stall waits, then fails; it never hangs
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.Publish(ctx, stream, redstream.Fields("during", "stall"))
		stalled <- err
	}()
	// The stall lasts until that publish has given up: it cannot succeed
	// while the server is stopped.
	select {
	case err := <-stalled:
		if err == nil {
			t.Fatal("a publish to the stopped server succeeded: the server was not stalled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a publish during the stall hung past its context")
	}
	if err := srv.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	after := publish(50)
	waitFor(t, 30*time.Second, "work resumed after SIGCONT", func() bool {
		for _, id := range append(before, after...) {
			if rec.count(id) == 0 {
				return false
			}
		}
		return true
	})
	if err := cons.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	c.Close()
	goleak.VerifyNone(t, snapshot)
}

func TestFaultPoisonEntriesGoToDeadLettersAndReplayBack(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 1000)
	poison := map[string]bool{}
	for i := 0; i < len(ids); i += 100 {
		poison[ids[i]] = true
	}
	var cured atomic.Bool
	var rec recorder
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if poison[m.ID] && !cured.Load() {
			return fmt.Errorf("cannot parse ticket %s", m.Value("seq"))
		}
		rec.add(m.ID)
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"),
		redstream.MaxDeliveries(3), redstream.RetryBackoff(5*time.Millisecond, 20*time.Millisecond))
	runConsumer(t, cons)
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	waitFor(t, 30*time.Second, "10 dead letters", func() bool {
		n, _ := dlq.Len(ctxT(t, time.Second))
		return n == 10 && rec.len() == 990
	})
	dead, err := dlq.List(ctxT(t, 5*time.Second), "-", "+", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		if !poison[d.OriginalID] || d.Deliveries != 3 || d.Stream != stream || d.Group != "g" || d.Consumer != cons.Name() {
			t.Fatalf("dead letter %+v", d)
		}
		if !strings.HasPrefix(d.Error, "cannot parse ticket") || time.Since(d.Time) > time.Minute {
			t.Fatalf("dead letter error %q time %v", d.Error, d.Time)
		}
		if v := (&redstream.Message{Fields: d.Fields}).Value("seq"); v == "" {
			t.Fatalf("dead letter lost the original fields: %v", d.Fields)
		}
	}
	for _, id := range ids {
		if want := 1; !poison[id] && rec.count(id) != want {
			t.Fatalf("entry %s handled %d times, want once", id, rec.count(id))
		}
	}
	if p := pendingCount(t, c, stream, "g"); p != 0 {
		t.Fatalf("pending = %d, want 0", p)
	}

	// Replay moves them back to the stream, where they are now handled.
	cured.Store(true)
	n, err := dlq.ReplayRange(ctxT(t, 10*time.Second), "-", "+", nil)
	if err != nil || n != 10 {
		t.Fatalf("ReplayRange = %d, %v; want 10", n, err)
	}
	waitFor(t, 10*time.Second, "replayed entries handled", func() bool { return rec.len() == 1000 })
	if l, _ := dlq.Len(ctxT(t, time.Second)); l != 0 {
		t.Fatalf("dead-letter stream still holds %d", l)
	}
}

func TestFaultPermanentErrorAndPanic(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 3)
	var attempts sync.Map
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		n, _ := attempts.LoadOrStore(m.ID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		switch m.ID {
		case ids[0]:
			return redstream.Permanent(errors.New("ticket refers to a deleted account"))
		case ids[1]:
			panic("nil map in handler")
		}
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"),
		redstream.MaxDeliveries(4), redstream.RetryBackoff(5*time.Millisecond, 10*time.Millisecond))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "2 dead letters", func() bool { return cons.Stats().DeadLettered == 2 })
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	dead, _ := dlq.List(ctxT(t, 5*time.Second), "-", "+", 10)
	byID := map[string]redstream.DeadLetter{}
	for _, d := range dead {
		byID[d.OriginalID] = d
	}
	if d := byID[ids[0]]; d.Deliveries != 1 || !strings.Contains(d.Error, "deleted account") {
		t.Fatalf("permanent failure: %+v; want dead-lettered after 1 delivery", d)
	}
	if d := byID[ids[1]]; d.Deliveries != 4 || !strings.Contains(d.Error, "panicked: nil map") {
		t.Fatalf("panic: %+v; want retried to MaxDeliveries then dead-lettered", d)
	}
	n0, _ := attempts.Load(ids[0])
	n1, _ := attempts.Load(ids[1])
	if n0.(*atomic.Int64).Load() != 1 || n1.(*atomic.Int64).Load() != 4 {
		t.Fatalf("attempts: permanent %d, panic %d; want 1 and 4", n0.(*atomic.Int64).Load(), n1.(*atomic.Int64).Load())
	}
	if p := pendingCount(t, c, stream, "g"); p != 0 {
		t.Fatalf("pending = %d, want 0", p)
	}
}

// xautoclaims returns how many XAUTOCLAIM calls the server has served.
func xautoclaims(t *testing.T, c rueidis.Client) int64 {
	t.Helper()
	return statCount(t, infoField(t, c, "commandstats", "cmdstat_xautoclaim"), "calls")
}

func TestFaultSlowHandlerIsNotHandledTwice(t *testing.T) {
	// A server of its own: the test counts the claim walks it serves.
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0", "MKSTREAM")
	const minIdle, work = time.Second, 3 * time.Second
	var rec recorder
	var running atomic.Int64
	slow := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		running.Add(1)
		time.Sleep(work) // three times ClaimMinIdle
		rec.add(m.ID)
		return nil
	})
	// Each consumer renews its entries every third of ClaimMinIdle and
	// looks for idle entries of the other every 50 ms.
	opts := []redstream.ConsumerOption{redstream.ClaimMinIdle(minIdle), redstream.ClaimInterval(50 * time.Millisecond)}
	a, _ := redstream.NewConsumer(c, stream, "g", slow, append(opts, redstream.Name("a"))...)
	b, _ := redstream.NewConsumer(c, stream, "g", slow, append(opts, redstream.Name("b"))...)
	aDone, bDone := runConsumer(t, a), runConsumer(t, b)
	ids := publishN(t, c, stream, 4)
	waitFor(t, 10*time.Second, "4 handlers running", func() bool { return running.Load() == 4 })
	began := time.Now()
	waitFor(t, 10*time.Second, "the entries held longer than ClaimMinIdle", func() bool { return time.Since(began) > minIdle+100*time.Millisecond })
	walks := xautoclaims(t, c)
	waitFor(t, 10*time.Second, "claim walks over the entries held that long", func() bool { return xautoclaims(t, c) >= walks+4 })
	rows, err := srv.Do(t, "XPENDING", stream, "g", "-", "+", "10").ToArray()
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.len(); n != 0 || len(rows) != 4 {
		t.Fatalf("%d handlers done, %d entries pending after the claim walks: the handlers were not still running", n, len(rows))
	}
	for _, r := range rows { // id, consumer, idle ms, deliveries
		row, _ := r.ToArray()
		id, _ := row[0].ToString()
		owner, _ := row[1].ToString()
		idle, _ := row[2].AsInt64()
		deliveries, _ := row[3].AsInt64()
		if deliveries != 1 || time.Duration(idle)*time.Millisecond >= minIdle {
			t.Fatalf("entry %s held by %s for over %v: idle %d ms, %d deliveries; want its lease kept fresh (idle under ClaimMinIdle, delivered once)",
				id, owner, minIdle, idle, deliveries)
		}
	}
	waitFor(t, 20*time.Second, "4 handled", func() bool { return rec.len() == 4 })
	// Graceful stops: a wrongful second handling still running finishes
	// and is counted.
	for _, cn := range []*redstream.Consumer{a, b} {
		if err := cn.Shutdown(ctxT(t, 20*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	<-aDone
	<-bDone
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Fatalf("entry %s handled %d times: its lease was not kept", id, n)
		}
	}
	if a.Stats().Reclaimed+b.Stats().Reclaimed != 0 {
		t.Fatalf("entries still being handled were reclaimed: a %+v b %+v", a.Stats(), b.Stats())
	}
}

func TestFaultDeadConsumersEntriesAreTakenOverAndItIsRemoved(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0", "MKSTREAM")
	ids := publishN(t, c, stream, 10)
	var rec recorder
	var deliveries sync.Map
	note := func(m *redstream.Message) {
		rec.add(m.ID)
		deliveries.Store(m.ID, m.Deliveries)
	}
	opts := []redstream.ConsumerOption{redstream.ClaimMinIdle(time.Second), redstream.ClaimInterval(50 * time.Millisecond),
		redstream.DeleteIdleConsumers(300 * time.Millisecond)}
	// "holder" takes the first 4 and stays alive without finishing them;
	// "ghost" takes the other 6 and dies (it never reads again).
	release := make(chan struct{})
	holder, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		<-release
		note(m)
		return nil
	}), append(opts, redstream.Name("holder"), redstream.Concurrency(4))...)
	holderDone := runConsumer(t, holder)
	waitFor(t, 10*time.Second, "holder handling 4", func() bool { return holder.Stats().InFlight == 4 })
	srv.Do(t, "XREADGROUP", "GROUP", "g", "ghost", "COUNT", "6", "STREAMS", stream, ">")
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		note(m)
		return nil
	}), append(opts, redstream.Name("live"))...)
	runConsumer(t, cons)
	// ghost's entries are taken over once idle for ClaimMinIdle: by then
	// holder has held its own, read before them, longer than that and
	// longer than the removal threshold.
	waitFor(t, 20*time.Second, "ghost's 6 handled", func() bool { return rec.len() == 6 })
	for _, id := range ids[4:] {
		if d, _ := deliveries.Load(id); d != 2 {
			t.Fatalf("reclaimed entry %s has Deliveries %v, want 2", id, d)
		}
	}
	waitFor(t, 10*time.Second, "ghost removed", func() bool {
		_, ok := consumersOf(t, srv, stream, "g")["ghost"]
		return !ok
	})
	if n, ok := consumersOf(t, srv, stream, "g")["holder"]; !ok || n != 4 {
		t.Fatalf("holder present %v with %d pending, want it kept with its 4", ok, n)
	}
	if st := cons.Stats(); st.Reclaimed != 6 || st.Handled != 6 {
		t.Fatalf("live consumer %+v, want only ghost's 6 taken over and handled", st)
	}
	close(release)
	if err := holder.Shutdown(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	<-holderDone
	for _, id := range ids[:4] {
		if d, _ := deliveries.Load(id); d != 1 {
			t.Fatalf("holder's entry %s has Deliveries %v, want 1 (never taken from it)", id, d)
		}
	}
	for _, id := range ids {
		if n := rec.count(id); n != 1 {
			t.Fatalf("entry %s handled %d times, want once", id, n)
		}
	}
	waitFor(t, 10*time.Second, "nothing pending", func() bool { return pendingCount(t, c, stream, "g") == 0 })
}

func TestFaultConsumerWithPendingEntriesIsNeverRemoved(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0", "MKSTREAM")
	publishN(t, c, stream, 3)
	srv.Do(t, "XREADGROUP", "GROUP", "g", "holder", "COUNT", "3", "STREAMS", stream, ">")
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
		redstream.ClaimMinIdle(time.Hour), redstream.ClaimInterval(20*time.Millisecond), redstream.DeleteIdleConsumers(10*time.Millisecond))
	runConsumer(t, cons)
	// Three removal rounds seen to run: each removes a consumer that holds
	// nothing, added after holder went idle.
	for i := range 3 {
		canary := fmt.Sprintf("canary-%d", i)
		srv.Do(t, "XGROUP", "CREATECONSUMER", stream, "g", canary)
		waitFor(t, 10*time.Second, canary+" removed", func() bool {
			_, ok := consumersOf(t, srv, stream, "g")[canary]
			return !ok
		})
	}
	if n, ok := consumersOf(t, srv, stream, "g")["holder"]; !ok || n != 3 {
		t.Fatalf("holder present %v with %d pending, want it kept with its 3 (a consumer with pending entries was removed)", ok, n)
	}
	rows, _ := srv.Do(t, "XPENDING", stream, "g", "-", "+", "10", "holder").ToArray()
	if len(rows) != 3 {
		t.Fatalf("holder's pending entries: %d, want 3", len(rows))
	}
}

func TestFaultTrimmedPendingEntriesDoNotLoop(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 20)
	var rec recorder
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return errors.New("not yet")
	}), redstream.StartID("0"), redstream.MaxDeliveries(0), redstream.RetryBackoff(20*time.Millisecond, 20*time.Millisecond))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "every entry failed once", func() bool { return rec.len() >= 20 })
	srv.Do(t, "XTRIM", stream, "MAXLEN", "0")
	waitFor(t, 10*time.Second, "pending list cleaned", func() bool { return pendingCount(t, c, stream, "g") == 0 })
	settled := map[string]int{}
	for _, id := range ids {
		settled[id] = rec.count(id)
	}
	// A new entry that keeps failing is retried on the schedule the trimmed
	// entries' retries would follow: ten of its retries give them as many
	// chances to come back.
	sentinel, err := srv.Do(t, "XADD", stream, "*", "seq", "after-trim").ToString()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "10 retries of an entry added after the trim", func() bool { return rec.count(sentinel) > 10 })
	for _, id := range ids {
		if n := rec.count(id); n != settled[id] {
			t.Fatalf("handler called for trimmed entry %s after the trim was cleaned up: %d -> %d", id, settled[id], n)
		}
	}
}

func TestFaultPublishFailsPromptlyWhenRedisIsDownOrFull(t *testing.T) {
	srv := redstreamtest.StartRedis(t, redstreamtest.Args("--maxmemory", "2mb", "--maxmemory-policy", "noeviction"))
	c := dial(t, srv)
	p, _ := redstream.NewPublisher(c)
	big := strings.Repeat("x", 64<<10)
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		_, err = p.Publish(ctxT(t, 5*time.Second), "full", redstream.Fields("blob", big))
	}
	if err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("publishing past maxmemory: error = %v, want the server's OOM refusal", err)
	}
	srv.Kill()
	start := time.Now()
	_, err = p.Publish(context.Background(), "full", redstream.Fields("a", "b"))
	if !errors.Is(err, redstream.ErrUnreachable) {
		t.Fatalf("publish to a killed server: error = %v, want ErrUnreachable", err)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("publish to a killed server took %v", time.Since(start))
	}
}

func TestFaultGroupLostInRestartWithoutPersistenceIsRecreated(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := dial(t, srv)
	var rec recorder
	cons, _ := redstream.NewConsumer(c, "volatile", "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		rec.add(m.ID)
		return nil
	}), redstream.Block(100*time.Millisecond), redstream.StartID("0"))
	runConsumer(t, cons)
	publishN(t, c, "volatile", 5)
	waitFor(t, 10*time.Second, "5 handled", func() bool { return rec.len() == 5 })
	srv.Kill()
	srv.Restart() // no AOF: stream and group are gone
	waitFor(t, 20*time.Second, "group re-created", func() bool {
		n, err := srv.Do(t, "XINFO", "GROUPS", "volatile").ToArray()
		return err == nil && len(n) == 1
	})
	publishN(t, c, "volatile", 5)
	waitFor(t, 10*time.Second, "5 more handled", func() bool { return rec.len() == 10 })
}
