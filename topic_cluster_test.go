package redstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/redisproc"
)

func startCluster(t *testing.T, masters, replicas int) (*redisproc.Cluster, rueidis.Client) {
	t.Helper()
	cl, err := redisproc.StartCluster(t.TempDir(), masters, replicas)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Kill)
	c, err := redstream.Dial(ctxT(t, 10*time.Second), cl.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return cl, c
}

func startTopicProc(t *testing.T, url, topic, name string) *consumerProc {
	t.Helper()
	return startProc(t, "topic-consumer", name, "REDSTREAM_URL="+url, "REDSTREAM_TOPIC="+topic)
}

// TestTopicKeyOrderOnClusterWithKilledConsumers publishes 100 keys × 200
// events to a 12-partition topic on a 3-master cluster while consumer
// processes are added and SIGKILLed; every key's events must be handled
// in publish order, nothing lost, a repeat only of a key's last event.
func TestTopicKeyOrderOnClusterWithKilledConsumers(t *testing.T) {
	cl, c := startCluster(t, 3, 0)
	ctx := ctxT(t, 3*time.Minute)
	const name, keys, perKey = "orders", 100, 200
	top, err := redstream.CreateTopic(ctx, c, name, 12)
	if err != nil {
		t.Fatal(err)
	}
	procs := []*consumerProc{startTopicProc(t, cl.URL(), name, "c0"), startTopicProc(t, cl.URL(), name, "c1")}
	pubDone := make(chan error, 1)
	go func() {
		p, _ := redstream.NewPublisher(c)
		for s := range perKey {
			batch := make([]redstream.KeyedEntry, 0, keys)
			for k := range keys {
				batch = append(batch, redstream.KeyedEntry{Key: "key-" + strconv.Itoa(k), Fields: redstream.Fields("seq", strconv.Itoa(s))})
			}
			if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
				pubDone <- err
				return
			}
			time.Sleep(40 * time.Millisecond)
		}
		pubDone <- nil
	}()
	kills, gen := 0, 0
	added := false
	for publishing := true; publishing; {
		select {
		case err := <-pubDone:
			if err != nil {
				t.Fatal(err)
			}
			publishing = false
		case <-time.After(time.Duration(1200+rand.IntN(600)) * time.Millisecond):
			if !added {
				procs = append(procs, startTopicProc(t, cl.URL(), name, "c2"))
				added = true
				continue
			}
			i := rand.IntN(len(procs))
			_ = procs[i].cmd.Process.Signal(syscall.SIGKILL)
			<-procs[i].done
			kills++
			gen++
			procs[i] = startTopicProc(t, cl.URL(), name, fmt.Sprintf("c%d-gen%d", i, gen))
		}
	}
	// Collect each key's handled sequence once everything is in.
	seen := func(k int) []string {
		v, _ := c.Do(ctx, c.B().Lrange().Key("seen:"+name+":key-"+strconv.Itoa(k)).Start(0).Stop(-1).Build()).AsStrSlice()
		return v
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		done := true
		for k := range keys {
			v := seen(k)
			if len(v) == 0 || v[len(v)-1] != strconv.Itoa(perKey-1) {
				done = false
				break
			}
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not every key's last event was handled in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
	repeats := 0
	for k := range keys {
		v := seen(k)
		next := 0
		for i, s := range v {
			n, _ := strconv.Atoi(s)
			switch {
			case n == next:
				next++
			case i > 0 && s == v[i-1] && n == next-1:
				repeats++
			default:
				t.Fatalf("key-%d: %s out of order at position %d (after %v)", k, s, i, v[max(0, i-3):i])
			}
		}
		if next != perKey {
			t.Fatalf("key-%d handled up to %d of %d", k, next, perKey)
		}
	}
	if kills == 0 {
		t.Fatal("publishing ended before any consumer was killed")
	}
	t.Logf("%d keys × %d events in order across %d kills; %d repeats of a key's last event", keys, perKey, kills, repeats)
}

// TestTopicRebalanceOnCluster runs the rebalancing scenario on a
// 3-master cluster: 12 partitions, 1 → 3 → 2 consumers.
func TestTopicRebalanceOnCluster(t *testing.T) {
	_, c := startCluster(t, 3, 0)
	rebalanceScenario(t, c)

	// The layout spreads 12 partitions evenly over the 3 masters.
	top, err := redstream.CreateTopic(ctxT(t, 5*time.Second), c, "spread", 12)
	if err != nil {
		t.Fatal(err)
	}
	info, err := redstream.NewInspector(c).Topic(ctxT(t, 10*time.Second), top.Name)
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, p := range info.Partitions {
		perNode[p.Node]++
	}
	if len(perNode) != 3 {
		t.Fatalf("partitions per node %v, want 4 on each of 3 masters", perNode)
	}
	for node, n := range perNode {
		if node == "" || n != 4 {
			t.Fatalf("partitions per node %v, want 4 on each of 3 masters", perNode)
		}
	}
}

// TestTopicFailoverKeepsReplicaAcknowledgedEvents kills a master of a
// cluster with one replica per master while events flow; every event
// whose publish a replica acknowledged (WAIT) must be handled after the
// replica takes over.
func TestTopicFailoverKeepsReplicaAcknowledgedEvents(t *testing.T) {
	cl, c := startCluster(t, 3, 1)
	ctx := ctxT(t, 3*time.Minute)
	top, err := redstream.CreateTopic(ctx, c, "payments", 6)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	handled := map[string]bool{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		mu.Lock()
		handled[m.Value("n")] = true
		mu.Unlock()
		return nil
	})
	for _, n := range []string{"a", "b"} {
		tc, err := redstream.NewTopicConsumer(c, top, "g", h, redstream.Name(n), redstream.Lease(2*time.Second), redstream.Block(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		go tc.Run(context.Background())
		t.Cleanup(func() { tc.Close() })
	}
	victim := cl.Nodes[0].Addr() // a master; its replica must take over
	onVictim := map[int]bool{}
	for i, node := range partitionNodes(t, c, top.Name) {
		if node == victim {
			onVictim[i] = true
		}
	}
	if len(onVictim) == 0 {
		t.Fatalf("no partition on %s", victim)
	}
	p, _ := redstream.NewPublisher(c)
	var acked, promoted []string
	failed, ackedOnVictim := 0, 0
	killed := false
	deadline := time.Now().Add(2 * time.Minute)
	// Publish until the killed master's partitions take events again: from
	// its replica, promoted in its place (and without a replica of its own).
	for i := 0; len(promoted) < 10; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d events taken by the killed master's partitions since the kill: its replica did not take over", len(promoted))
		}
		if !killed && ackedOnVictim >= 50 {
			cl.Nodes[0].Kill()
			killed = true
			t.Log("killed a master")
		}
		n := strconv.Itoa(i)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rc, acks, err := p.PublishTopicWait(pctx, top, 1, 500*time.Millisecond, redstream.KeyedEntry{Key: "k" + strconv.Itoa(i%50), Fields: redstream.Fields("n", n)})
		cancel()
		written := err == nil && len(rc) == 1 && rc[0].ID != ""
		switch {
		case written && len(acks) == 1 && acks[0].Replicas >= 1:
			acked = append(acked, n)
			if onVictim[rc[0].Partition] {
				ackedOnVictim++
			}
			time.Sleep(5 * time.Millisecond)
		case written && killed && onVictim[rc[0].Partition]:
			promoted = append(promoted, n)
			failed++ // not replicated
		default:
			failed++
			time.Sleep(20 * time.Millisecond)
		}
	}
	if failed == 0 {
		t.Fatal("no publish failed or went unacknowledged: the master was not down")
	}
	waitFor(t, 60*time.Second, "every replica-acknowledged event and every event taken after the failover handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range append(acked, promoted...) {
			if !handled[n] {
				return false
			}
		}
		return true
	})
	t.Logf("%d events acknowledged by a replica (%d on the killed master's partitions before the kill) and %d taken by the promoted replica, all handled; %d publishes failed or were not replicated during the failover",
		len(acked), ackedOnVictim, len(promoted), failed)
}

// partitionNodes returns the address of the master serving each of the
// topic's partitions.
func partitionNodes(t *testing.T, c rueidis.Client, topic string) []string {
	t.Helper()
	info, err := redstream.NewInspector(c).Topic(ctxT(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("inspect topic: %v", err)
	}
	var nodes []string
	for _, p := range info.Partitions {
		nodes = append(nodes, p.Node)
	}
	return nodes
}

// TestTopicSurvivesSlotMigration moves every slot of one master, with the
// partition stream living there, to another master while events flow
// (redis-cli --cluster reshard: MIGRATE, then MOVED/ASK for clients); every
// published event must be handled, each key strictly in order, a repeat
// only of a key's last event, and no partition handled by two consumers
// at once.
func TestTopicSurvivesSlotMigration(t *testing.T) {
	cl, c := startCluster(t, 3, 0)
	ctx := ctxT(t, 3*time.Minute)
	top, err := redstream.CreateTopic(ctx, c, "moving", 3)
	if err != nil {
		t.Fatal(err)
	}
	from, to := cl.Nodes[0].Addr(), cl.Nodes[1].Addr()
	moving := slices.Index(partitionNodes(t, c, top.Name), from)
	if moving < 0 {
		t.Fatalf("no partition on %s: %v", from, partitionNodes(t, c, top.Name))
	}
	log := newOrderLog()
	var cons []*redstream.TopicConsumer
	for _, n := range []string{"a", "b"} {
		tc, err := redstream.NewTopicConsumer(c, top, "g", log.handler(n, 0), redstream.Name(n), redstream.Lease(2*time.Second), redstream.Block(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		go tc.Run(context.Background())
		t.Cleanup(func() { tc.Close() })
		cons = append(cons, tc)
	}
	// Batches of one event per key, until told to stop; it reports how many.
	const keys = 30
	stop := make(chan struct{})
	type outcome struct {
		batches int
		err     error
	}
	pubDone := make(chan outcome, 1)
	go func() {
		p, _ := redstream.NewPublisher(c)
		for s := 0; ; s++ {
			select {
			case <-stop:
				pubDone <- outcome{batches: s}
				return
			default:
			}
			batch := make([]redstream.KeyedEntry, 0, keys)
			for k := range keys {
				batch = append(batch, redstream.KeyedEntry{Key: fmt.Sprintf("key-%d", k), Fields: redstream.Fields("seq", strconv.Itoa(s))})
			}
			for {
				if _, err := p.PublishTopic(ctx, top, batch...); err == nil {
					break
				} else if ctx.Err() != nil {
					pubDone <- outcome{err: err}
					return
				}
				time.Sleep(50 * time.Millisecond) // a batch refused mid-move is sent again whole
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	flowing := func(when string) {
		t.Helper()
		n := log.total()
		waitFor(t, 30*time.Second, "events flowing and handled "+when, func() bool { return log.total() >= n+10*keys })
	}
	flowing("before the move")
	out, err := exec.Command("redis-cli", "--cluster", "reshard", from,
		"--cluster-from", nodeID(t, from), "--cluster-to", nodeID(t, to), "--cluster-slots", "5461", "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("reshard: %v: %s", err, tailOf(string(out)))
	}
	if now := partitionNodes(t, c, top.Name)[moving]; now != to {
		t.Fatalf("partition %d on %s after the reshard, want it moved from %s to %s", moving, now, from, to)
	}
	t.Logf("moved all slots of the first master, with partition %d, to the second", moving)
	flowing("after the move")
	close(stop)
	res := <-pubDone
	if res.err != nil {
		t.Fatal(res.err)
	}
	waitFor(t, 60*time.Second, "all handled", func() bool { return log.complete(keys, res.batches) })
	for _, tc := range cons {
		if err := tc.Shutdown(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// A batch sent again after a failure mid-move may have been partly
	// written the first time: those keys see their last event twice, which
	// check allows, and nothing else out of order.
	log.check(t, keys, res.batches)
}

func nodeID(t *testing.T, addr string) string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-cli", "-h", host, "-p", port, "cluster", "myid").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func tailOf(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}
