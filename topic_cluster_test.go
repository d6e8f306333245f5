package redstream_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
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
	p, _ := redstream.NewPublisher(c)
	var acked []string
	failed := 0
	stop := time.After(12 * time.Second)
	killAt := time.After(3 * time.Second)
	for i := 0; ; i++ {
		select {
		case <-stop:
			goto check
		case <-killAt:
			cl.Nodes[0].Kill() // a master; its replica must take over
			t.Log("killed a master")
		default:
		}
		n := strconv.Itoa(i)
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rc, acks, err := p.PublishTopicWait(pctx, top, 1, 500*time.Millisecond, redstream.KeyedEntry{Key: "k" + strconv.Itoa(i%50), Fields: redstream.Fields("n", n)})
		cancel()
		if err != nil || len(rc) != 1 || rc[0].ID == "" || len(acks) != 1 || acks[0].Replicas < 1 {
			failed++
			time.Sleep(20 * time.Millisecond)
			continue
		}
		acked = append(acked, n)
		time.Sleep(5 * time.Millisecond)
	}
check:
	if failed == 0 {
		t.Fatal("no publish failed or went unacknowledged: the master was not down")
	}
	waitFor(t, 60*time.Second, "every replica-acknowledged event handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range acked {
			if !handled[n] {
				return false
			}
		}
		return true
	})
	t.Logf("%d events acknowledged by a replica, all handled; %d publishes failed or were not replicated during the failover", len(acked), failed)
}

// TestTopicSurvivesSlotMigration moves every slot of one master, with the
// partition stream living there, to another master while events flow
// (redis-cli --cluster reshard: MIGRATE, then MOVED/ASK for clients); every
// published event must be handled, each key in order.
func TestTopicSurvivesSlotMigration(t *testing.T) {
	cl, c := startCluster(t, 3, 0)
	ctx := ctxT(t, 3*time.Minute)
	top, err := redstream.CreateTopic(ctx, c, "moving", 3)
	if err != nil {
		t.Fatal(err)
	}
	log := newOrderLog()
	for _, n := range []string{"a", "b"} {
		tc, err := redstream.NewTopicConsumer(c, top, "g", log.handler(n, 0), redstream.Name(n), redstream.Lease(2*time.Second), redstream.Block(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		go tc.Run(context.Background())
		t.Cleanup(func() { tc.Close() })
	}
	const keys, perKey = 30, 100
	pubDone := make(chan error, 1)
	go func() {
		p, _ := redstream.NewPublisher(c)
		for s := range perKey {
			batch := make([]redstream.KeyedEntry, 0, keys)
			for k := range keys {
				batch = append(batch, redstream.KeyedEntry{Key: fmt.Sprintf("key-%d", k), Fields: redstream.Fields("seq", strconv.Itoa(s))})
			}
			for {
				if _, err := p.PublishTopic(ctx, top, batch...); err == nil {
					break
				} else if ctx.Err() != nil {
					pubDone <- err
					return
				}
				time.Sleep(50 * time.Millisecond) // a batch refused mid-move is sent again whole
			}
			time.Sleep(20 * time.Millisecond)
		}
		pubDone <- nil
	}()
	time.Sleep(500 * time.Millisecond)
	from, to := nodeID(t, cl.Nodes[0].Addr()), nodeID(t, cl.Nodes[1].Addr())
	out, err := exec.Command("redis-cli", "--cluster", "reshard", cl.Nodes[0].Addr(),
		"--cluster-from", from, "--cluster-to", to, "--cluster-slots", "5461", "--cluster-yes").CombinedOutput()
	if err != nil {
		t.Fatalf("reshard: %v: %s", err, tailOf(string(out)))
	}
	t.Log("moved all slots of the first master to the second")
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "all handled", func() bool { return log.total() >= keys*perKey })
	// A batch retried after a failure mid-move may have been partly written
	// the first time: those keys see a repeat of an event, in order.
	log.mu.Lock()
	for k, seqs := range log.seqs {
		next := 0
		for _, s := range seqs {
			if s == next {
				next++
			} else if s >= next {
				log.mu.Unlock()
				t.Fatalf("%s: %d handled before %d", k, s, next)
			}
		}
		if next != perKey {
			log.mu.Unlock()
			t.Fatalf("%s: handled up to %d of %d", k, next, perKey)
		}
	}
	log.mu.Unlock()
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
