package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/aclroles"
	"github.com/redstream-go/redstream/redstreamtest"
)

// The tests here run each role of the README's "Least privilege" section
// as a real ACL user with exactly its documented ACL SETUSER line
// (internal/aclroles), on a private redis-server (the lines are about the
// keys "orders"). A role works when it does its job and the server's ACL
// LOG holds no refusal of that user: a command the library sends but the
// line forgets would be refused there even where the library tolerates the
// refusal (INFO, CLIENT UNBLOCK). Each also checks that a line lacking one
// permission fails with ErrNoPermission.

// aclUser creates the role's user with line on srv (as the admin), empties
// the server's ACL LOG and returns a client logged in as that user.
func aclUser(t *testing.T, srv *redstreamtest.Server, line string) rueidis.Client {
	t.Helper()
	args := strings.Fields(line)
	if err := srv.Do(t, args...).Error(); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	srv.Do(t, "ACL", "LOG", "RESET")
	user, pass := args[2], ""
	for _, a := range args {
		if p, ok := strings.CutPrefix(a, ">"); ok {
			pass = p
		}
	}
	url := fmt.Sprintf("redis://%s:%s@%s", user, pass, srv.Addr())
	c, err := redstream.Dial(ctxT(t, 10*time.Second), url)
	if err != nil {
		t.Fatalf("dial as %s: %v", user, err)
	}
	t.Cleanup(c.Close)
	return c
}

// without returns line lacking the token drop (a command or key pattern).
func without(t *testing.T, line, drop string) string {
	t.Helper()
	fields := strings.Fields(line)
	out := fields[:0]
	for _, f := range fields {
		if f != drop {
			out = append(out, f)
		}
	}
	if len(out) == len(strings.Fields(line)) {
		t.Fatalf("%q is not in %q", drop, line)
	}
	return strings.Join(out, " ")
}

// noRefusals fails the test if the server refused anything to the user of
// line since the last ACL LOG RESET.
func noRefusals(t *testing.T, srv *redstreamtest.Server, line string) {
	t.Helper()
	user := strings.Fields(line)[2]
	rows, err := srv.Do(t, "ACL", "LOG").ToArray()
	if err != nil {
		t.Fatalf("acl log: %v", err)
	}
	for _, r := range rows {
		m, _ := r.AsStrMap()
		if m["username"] == user {
			t.Errorf("the server refused %s %q (%s) to %s: the documented line lacks it", m["reason"], m["object"], m["context"], user)
		}
	}
}

// wantNoPermission checks that err is an ACL refusal, not an
// authentication failure, and names op and key.
func wantNoPermission(t *testing.T, what string, err error, mentions ...string) {
	t.Helper()
	if !errors.Is(err, redstream.ErrNoPermission) || errors.Is(err, redstream.ErrAuth) {
		t.Fatalf("%s: error = %v, want ErrNoPermission and not ErrAuth", what, err)
	}
	for _, m := range mentions {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not name %q", what, err, m)
		}
	}
}

func aclServer(t *testing.T) (*redstreamtest.Server, rueidis.Client) {
	t.Helper()
	srv := redstreamtest.StartRedis(t)
	return srv, srv.Client(t)
}

// Catches: a README whose ACL lines differ from the ones the tests run.
func TestACLReadmeShowsTheTestedLines(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range aclroles.All {
		if !strings.Contains(string(readme), "\n"+r.Line+"\n") {
			t.Errorf("README.md does not show the %s's line on a line of its own:\n%s", r.Name, r.Line)
		}
	}
}

func TestACLPublisher(t *testing.T) {
	srv, _ := aclServer(t)
	line := aclroles.Publisher.Line
	c := aclUser(t, srv, line)
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 30*time.Second)
	if _, err := p.Publish(ctx, "orders", redstream.Fields("n", "1")); err != nil {
		t.Fatalf("publish as the publisher: %v", err)
	}
	if _, err := p.PublishBatch(ctx, []redstream.Entry{{Stream: "orders", Fields: redstream.Fields("n", "2")}, {Stream: "orders", Fields: redstream.Fields("n", "3")}}); err != nil {
		t.Fatalf("publish a batch as the publisher: %v", err)
	}
	if n, _ := srv.Do(t, "XLEN", "orders").AsInt64(); n != 3 {
		t.Fatalf("orders holds %d entries, want 3", n)
	}
	id, err := p.PublishIn(ctx, "orders", time.Hour, redstream.Fields("n", "later"))
	if err != nil {
		t.Fatalf("schedule as the publisher: %v", err)
	}
	if _, err := p.PublishBatchAt(ctx, []redstream.ScheduledEntry{{Stream: "orders", Fields: redstream.Fields("n", "at"), At: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatalf("schedule a batch as the publisher: %v", err)
	}
	if err := p.Cancel(ctx, "orders", id); err != nil {
		t.Fatalf("cancel as the publisher: %v", err)
	}
	noRefusals(t, srv, line)

	_, err = p.Publish(ctx, "payments", redstream.Fields("n", "1"))
	wantNoPermission(t, "publish to another stream", err, "payments")
	aclUser(t, srv, without(t, line, "+xadd"))
	_, err = p.Publish(ctx, "orders", redstream.Fields("n", "4"))
	wantNoPermission(t, "publish without +xadd", err, "orders", "xadd")
}

func TestACLTopicPublisher(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, 30*time.Second)
	if _, err := redstream.CreateTopic(ctx, admin, "orders", 4); err != nil {
		t.Fatal(err)
	}
	line := aclroles.TopicPublisher.Line
	c := aclUser(t, srv, line)
	top, err := redstream.OpenTopic(ctx, c, "orders")
	if err != nil {
		t.Fatalf("open the topic as the topic publisher: %v", err)
	}
	p, _ := redstream.NewPublisher(c)
	if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "a", Fields: redstream.Fields("n", "1")}, redstream.KeyedEntry{Fields: redstream.Fields("n", "2")}); err != nil {
		t.Fatalf("publish to the topic: %v", err)
	}
	if _, _, err := p.PublishTopicWait(ctx, top, 0, time.Second, redstream.KeyedEntry{Key: "b", Fields: redstream.Fields("n", "3")}); err != nil {
		t.Fatalf("publish to the topic and wait: %v", err)
	}
	var total int64
	for _, s := range top.Streams() {
		n, _ := srv.Do(t, "XLEN", s).AsInt64()
		total += n
	}
	if total != 3 {
		t.Fatalf("the partitions hold %d events, want 3", total)
	}
	noRefusals(t, srv, line)

	aclUser(t, srv, without(t, line, "+hgetall"))
	_, err = redstream.OpenTopic(ctx, c, "orders")
	wantNoPermission(t, "open the topic without +hgetall", err, "orders", "hgetall")
}

func TestACLConsumer(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, 2*time.Minute)
	// Before the consumer starts: the group exists and a consumer that has
	// since died holds the first entry, for the consumer to reclaim.
	ids := publishN(t, admin, "orders", 30)
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "orders", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "dead-one", "COUNT", "1", "STREAMS", "orders", ">"},
	} {
		if err := srv.Do(t, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	// And one scheduled entry, due at once, for the consumer to move in.
	admPub, _ := redstream.NewPublisher(admin)
	if _, err := admPub.PublishIn(ctx, "orders", 0, redstream.Fields("n", "scheduled")); err != nil {
		t.Fatal(err)
	}
	line := aclroles.Consumer.Line
	c := aclUser(t, srv, line)

	// Entry 1 fails once (a retry), entry 2 always (a dead letter).
	var failedOnce atomic.Bool
	var handled atomic.Int64
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		switch m.ID {
		case ids[1]:
			if !failedOnce.Swap(true) {
				return errors.New("once")
			}
		case ids[2]:
			return errors.New("always")
		}
		handled.Add(1)
		return nil
	})
	cons, err := redstream.NewConsumer(c, "orders", "g", h, redstream.Name("worker"),
		redstream.ClaimMinIdle(50*time.Millisecond), redstream.ClaimInterval(20*time.Millisecond),
		redstream.DeleteIdleConsumers(time.Millisecond),
		redstream.RetryBackoff(10*time.Millisecond, 10*time.Millisecond), redstream.MaxDeliveries(2),
		redstream.Block(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, time.Minute, "29 entries and the scheduled one handled, 1 dead-lettered, the dead consumer removed", func() bool {
		_, dead := consumersOf(t, srv, "orders", "g")["dead-one"]
		n, _ := srv.Do(t, "XLEN", "orders:dead").AsInt64()
		return handled.Load() == 30 && n == 1 && !dead && pendingCount(t, admin, "orders", "g") == 0
	})
	if st := cons.Stats(); st.Retried == 0 || st.Reclaimed == 0 || st.DeadLettered != 1 {
		t.Errorf("stats %+v: want a retry, a reclaim and a dead letter", st)
	}
	if err := cons.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run as the consumer: %v", err)
	}
	noRefusals(t, srv, line)

	aclUser(t, srv, without(t, line, "+xreadgroup"))
	cons2, _ := redstream.NewConsumer(c, "orders", "g", h, redstream.Name("worker"))
	err = cons2.Run(ctxT(t, 30*time.Second)) // a consumer that retried instead would end with the context
	wantNoPermission(t, "consume without +xreadgroup", err, "orders", "xreadgroup")
}

func TestACLTopicConsumer(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, 2*time.Minute)
	top, err := redstream.CreateTopic(ctx, admin, "orders", 4)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := redstream.NewPublisher(admin)
	var events []redstream.KeyedEntry
	for i := range 20 {
		events = append(events, redstream.KeyedEntry{Key: fmt.Sprint("k", i%5), Fields: redstream.Fields("n", fmt.Sprint(i))})
	}
	if _, err := p.PublishTopic(ctx, top, events...); err != nil {
		t.Fatal(err)
	}
	// And one scheduled event, due at once, for its partition's owner to move in.
	if _, err := p.PublishTopicIn(ctx, top, 0, redstream.KeyedEntry{Key: "k0", Fields: redstream.Fields("n", "20")}); err != nil {
		t.Fatal(err)
	}
	line := aclroles.TopicConsumer.Line
	c := aclUser(t, srv, line)
	mine, err := redstream.OpenTopic(ctx, c, "orders")
	if err != nil {
		t.Fatalf("open the topic as the topic consumer: %v", err)
	}
	// Event 0 always fails: it is dead-lettered.
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("n") == "0" {
			return errors.New("always")
		}
		return nil
	})
	tc, err := redstream.NewTopicConsumer(c, mine, "g", h, redstream.Name("worker"), redstream.Lease(time.Second),
		redstream.RetryBackoff(10*time.Millisecond, 10*time.Millisecond), redstream.MaxDeliveries(2))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	t.Cleanup(func() { tc.Close() })
	waitFor(t, time.Minute, "19 events and the scheduled one handled, 1 dead-lettered", func() bool {
		st := tc.Stats()
		return st.Handled == 20 && st.DeadLettered == 1
	})
	if err := tc.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run as the topic consumer: %v", err)
	}
	noRefusals(t, srv, line)

	aclUser(t, srv, without(t, line, "~{orders}:*"))
	_, err = redstream.OpenTopic(ctx, c, "orders")
	wantNoPermission(t, "open the topic without its coordination keys", err, "orders")
}

func TestACLOperator(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, 2*time.Minute)
	ids := publishN(t, admin, "orders", 10)
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "orders", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "4", "STREAMS", "orders", ">"},
		{"XACK", "orders", "g", ids[0], ids[1], ids[2], ids[3]},
		{"XGROUP", "CREATECONSUMER", "orders", "g", "idle"},
		{"XADD", "orders:dead", "*", "dead.id", ids[5], "dead.stream", "orders", "dead.group", "g", "k", "v"},
		{"XADD", "orders:dead", "*", "dead.id", ids[6], "dead.stream", "orders", "dead.group", "g", "k", "w"},
	} {
		if err := srv.Do(t, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	admPub, _ := redstream.NewPublisher(admin)
	sched, err := admPub.PublishIn(ctx, "orders", time.Hour, redstream.Fields("n", "later"))
	if err != nil {
		t.Fatal(err)
	}
	line := aclroles.Operator.Line
	c := aclUser(t, srv, line)
	in := redstream.NewInspector(c)

	info, err := in.Stream(ctx, "orders")
	if err != nil || info.Length != 10 || len(info.Groups) != 1 || info.DeadLetters != 2 || info.Scheduled != 1 {
		t.Fatalf("inspect as the operator: %+v, %v", info, err)
	}
	if list, err := in.Scheduled(ctx, "orders", 10); err != nil || len(list) != 1 {
		t.Fatalf("list scheduled entries as the operator: %v, %v", list, err)
	}
	if err := in.CancelScheduled(ctx, "orders", sched); err != nil {
		t.Fatalf("cancel a scheduled entry as the operator: %v", err)
	}
	if _, _, err := in.Pending(ctx, "orders", "g", "-", 100, ""); err != nil {
		t.Fatalf("pending as the operator: %v", err)
	}
	if names, err := in.Streams(ctx, "orders*"); err != nil || len(names) == 0 {
		t.Fatalf("list streams as the operator: %v, %v", names, err)
	}
	if _, err := in.DeleteConsumer(ctx, "orders", "g", "idle", false); err != nil {
		t.Fatalf("delete a consumer as the operator: %v", err)
	}
	plan, err := in.PlanTrim(ctx, "orders", redstream.TrimOptions{Acked: true})
	if err != nil {
		t.Fatalf("plan a trim as the operator: %v", err)
	}
	if n, err := in.Trim(ctx, plan, true); err != nil || n != 4 {
		t.Fatalf("trim the acked entries as the operator: %d, %v (want 4)", n, err)
	}
	q, err := redstream.NewDeadLetterQueue(c, "orders", "orders:dead")
	if err != nil {
		t.Fatal(err)
	}
	dls, err := q.List(ctx, "-", "+", 10)
	if err != nil || len(dls) != 2 {
		t.Fatalf("list dead letters as the operator: %v, %v", dls, err)
	}
	if _, err := q.Get(ctx, dls[0].ID); err != nil {
		t.Fatalf("show a dead letter as the operator: %v", err)
	}
	if n, err := q.Replay(ctx, dls[0].ID); err != nil || n != 1 {
		t.Fatalf("replay a dead letter as the operator: %d, %v", n, err)
	}
	if n, err := q.PurgeAll(ctx); err != nil || n != 1 {
		t.Fatalf("purge the dead letters as the operator: %d, %v", n, err)
	}
	if _, err := in.DeleteGroup(ctx, "orders", "g", true); err != nil {
		t.Fatalf("delete a group as the operator: %v", err)
	}
	if _, err := redstream.CreateTopic(ctx, c, "orders", 4); err != nil {
		t.Fatalf("create a topic as the operator: %v", err)
	}
	if _, err := in.Topic(ctx, "orders"); err != nil {
		t.Fatalf("inspect a topic as the operator: %v", err)
	}
	if err := redstream.DeleteTopic(ctx, c, "orders"); err != nil {
		t.Fatalf("delete a topic as the operator: %v", err)
	}
	noRefusals(t, srv, line)

	aclUser(t, srv, without(t, line, "+xinfo|groups"))
	_, err = in.Stream(ctx, "orders")
	wantNoPermission(t, "inspect without +xinfo|groups", err, "orders", "xinfo|groups")

	// Refused inside a Lua script, where Redis 7.0 replies ERR, not NOPERM.
	srv.Do(t, "XGROUP", "CREATE", "orders", "g2", "0")
	aclUser(t, srv, without(t, line, "+xgroup|destroy"))
	_, err = in.DeleteGroup(ctx, "orders", "g2", false)
	wantNoPermission(t, "delete a group without +xgroup|destroy", err, "orders")
}

func TestACLDashboard(t *testing.T) {
	srv, admin := aclServer(t)
	ctx := ctxT(t, time.Minute)
	publishN(t, admin, "orders", 5)
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "orders", "g", "0"},
		{"XREADGROUP", "GROUP", "g", "c1", "COUNT", "2", "STREAMS", "orders", ">"},
		{"XADD", "orders:dead", "*", "k", "v"},
	} {
		if err := srv.Do(t, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	if _, err := redstream.CreateTopic(ctx, admin, "orders", 4); err != nil {
		t.Fatal(err)
	}
	line := aclroles.Dashboard.Line
	c := aclUser(t, srv, line)
	in := redstream.NewInspector(c)
	info, err := in.Stream(ctx, "orders")
	if err != nil || info.Length != 5 || len(info.Groups) != 1 || info.Groups[0].Pending != 2 || info.DeadLetters != 1 {
		t.Fatalf("inspect as the dashboard: %+v, %v", info, err)
	}
	if list, _, err := in.Pending(ctx, "orders", "g", "-", 100, ""); err != nil || len(list) != 2 {
		t.Fatalf("pending as the dashboard: %v, %v", list, err)
	}
	if _, err := in.Streams(ctx, "orders*"); err != nil {
		t.Fatalf("list streams as the dashboard: %v", err)
	}
	if _, err := in.Topic(ctx, "orders"); err != nil {
		t.Fatalf("inspect a topic as the dashboard: %v", err)
	}
	if _, err := in.PlanTrim(ctx, "orders", redstream.TrimOptions{MaxLen: 1}); err != nil {
		t.Fatalf("plan a trim as the dashboard: %v", err)
	}
	noRefusals(t, srv, line)

	// It can change nothing.
	p, _ := redstream.NewPublisher(c)
	_, err = p.Publish(ctx, "orders", redstream.Fields("n", "1"))
	wantNoPermission(t, "publish as the dashboard", err, "orders")
	_, err = in.DeleteGroup(ctx, "orders", "g", true)
	wantNoPermission(t, "delete a group as the dashboard", err, "orders")
	srv.Do(t, "ACL", "LOG", "RESET")

	aclUser(t, srv, without(t, line, "+xpending"))
	_, _, err = in.Pending(ctx, "orders", "g", "-", 100, "")
	wantNoPermission(t, "pending without +xpending", err, "orders", "xpending")
}
