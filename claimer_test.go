package redstream

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// newTestConsumer returns a Consumer named "me" in group "g" of stream,
// not running: its parts are called directly.
func newTestConsumer(t *testing.T, c rueidis.Client, stream string, opts ...ConsumerOption) *Consumer {
	t.Helper()
	opts = append([]ConsumerOption{Name("me")}, opts...)
	cons, err := NewConsumer(c, stream, "g", HandlerFunc(func(context.Context, *Message) error { return nil }), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cons
}

// giveIdle gives id to owner as if it had sat untouched for longIdle and
// been delivered deliveries times.
func giveIdle(t *testing.T, c rueidis.Client, stream, owner, id string, deliveries int) {
	t.Helper()
	redisDo(t, c, "XCLAIM", stream, "g", owner, "0", id,
		"IDLE", fmt.Sprint(longIdle.Milliseconds()), "RETRYCOUNT", fmt.Sprint(deliveries), "JUSTID")
}

func consumerNames(t *testing.T, c rueidis.Client, stream string) []string {
	t.Helper()
	m := redisDo(t, c, "XINFO", "CONSUMERS", stream, "g")
	rows, err := m.ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, row := range rows {
		kv, err := row.AsMap()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, str(kv["name"]))
	}
	slices.Sort(names)
	return names
}

// Catches: a reclaim that takes entries not idle for ClaimMinIdle (racing
// a live consumer), does not take idle ones, reports wrong delivery counts
// (MaxDeliveries miscounted for taken-over entries), returns entries
// without their fields, does not count them, or does not schedule the
// next walk.
func TestClaimerReclaimPageTakesIdleEntries(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 3)
	ids := readAs(t, c, "s", "g", "other", 3)
	idle3, idle1, fresh := ids[0], ids[1], ids[2]
	giveIdle(t, c, "s", "other", idle3, 3)
	giveIdle(t, c, "s", "other", idle1, 1)

	cons := newTestConsumer(t, c, "s", ClaimMinIdle(10*time.Second), ClaimInterval(time.Hour))
	cl := newClaimer(cons)
	if !cl.due() {
		t.Fatal("a new claimer is not due: a consumer that starts must look at once")
	}
	msgs, err := cons.reclaimPage("s", &cl, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%s:%d:%s", m.ID, m.Deliveries, fieldsString(m.Fields)))
	}
	want := []string{idle3 + ":4:i=0 k=v", idle1 + ":2:i=1 k=v"}
	if !slices.Equal(got, want) {
		t.Fatalf("reclaimed %v, want %v (ID:deliveries:fields)", got, want)
	}
	p := pendingOf(t, c, "s", "g")
	if p[idle3].owner != "me" || p[idle3].deliveries != 4 || p[idle1].owner != "me" || p[idle1].deliveries != 2 {
		t.Fatalf("pending after reclaim: %v", p)
	}
	if p[fresh].owner != "other" {
		t.Fatalf("an entry idle less than ClaimMinIdle was taken: %+v", p[fresh])
	}
	if n := cons.Stats().Reclaimed; n != 2 {
		t.Fatalf("Stats().Reclaimed = %d, want 2", n)
	}
	if cl.cursor != "0-0" || cl.due() {
		t.Fatalf("after a whole walk: cursor %q, due %v; want 0-0 and the next walk in ClaimInterval", cl.cursor, cl.due())
	}
}

// Catches: a walk that does not carry the cursor from page to page (it
// would rescan the start of a long pending list every turn, never getting
// past it), or that ends (schedules the next walk) before it reached the
// end of the list.
func TestClaimerReclaimPageWalksPageByPage(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 3)
	ids := readAs(t, c, "s", "g", "other", 3)
	giveIdle(t, c, "s", "other", ids[0], 1)
	giveIdle(t, c, "s", "other", ids[1], 1)
	cons := newTestConsumer(t, c, "s", ClaimMinIdle(10*time.Second), ClaimInterval(time.Hour))
	cl := newClaimer(cons)

	msgs, err := cons.reclaimPage("s", &cl, 1)
	if err != nil || len(msgs) != 1 || msgs[0].ID != ids[0] {
		t.Fatalf("first page of 1 = %s, %v; want %s", describe(msgs), err, ids[0])
	}
	if cl.cursor != ids[1] || !cl.due() {
		t.Fatalf("after the first page: cursor %q, due %v; want %s and the walk going on", cl.cursor, cl.due(), ids[1])
	}
	var rest []string
	for range 10 {
		if !cl.due() {
			break
		}
		msgs, err := cons.reclaimPage("s", &cl, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			rest = append(rest, m.ID)
		}
	}
	if cl.due() || !slices.Equal(rest, []string{ids[1]}) {
		t.Fatalf("the rest of the walk took %v (due %v), want [%s] and the walk over", rest, cl.due(), ids[1])
	}
}

// Catches: a reclaim that returns entries this consumer holds already
// (being handled, or waiting to retry): they would be handled twice.
func TestClaimerReclaimPageSkipsHeldEntries(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 2)
	ids := readAs(t, c, "s", "g", "me", 2)
	giveIdle(t, c, "s", "me", ids[0], 1)
	giveIdle(t, c, "s", "me", ids[1], 1)
	cons := newTestConsumer(t, c, "s", ClaimMinIdle(10*time.Second), ClaimInterval(time.Hour))
	cons.held.add(&Message{ID: ids[0], Stream: "s"})
	cl := newClaimer(cons)
	msgs, err := cons.reclaimPage("s", &cl, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != ids[1] {
		t.Fatalf("reclaimed %s, want only %s (not the held %s)", describe(msgs), ids[1], ids[0])
	}
	if n := cons.Stats().Reclaimed; n != 1 {
		t.Fatalf("Stats().Reclaimed = %d, want 1", n)
	}
}

// Catches: a walk's end that does not remove consumers idle longer than
// DeleteIdleConsumers, or that removes one still holding entries (they
// would become unclaimable).
func TestClaimerWalkEndRemovesIdleConsumersThatHoldNothing(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 1)
	readAs(t, c, "s", "g", "holder", 1)
	redisDo(t, c, "XGROUP", "CREATECONSUMER", "s", "g", "ghost")
	time.Sleep(20 * time.Millisecond) // both idle longer than 1ms
	cons := newTestConsumer(t, c, "s", ClaimMinIdle(10*time.Second), ClaimInterval(time.Hour), DeleteIdleConsumers(time.Millisecond))
	cl := newClaimer(cons)
	if _, err := cons.reclaimPage("s", &cl, 10); err != nil {
		t.Fatal(err)
	}
	// ("me" claimed nothing, so Redis did not create it.)
	if got := consumerNames(t, c, "s"); slices.Contains(got, "ghost") || !slices.Contains(got, "holder") {
		t.Fatalf("consumers after the walk: %v, want ghost removed and holder kept", got)
	}
}

// Catches: a resume of this consumer's own pending entries that skips
// none of those it holds (handled twice), does not count the new delivery
// (in Redis and on the message: an entry that crashes its consumer every
// time would never reach MaxDeliveries), returns no data, or reports the
// wrong last ID (the resume would stop early or loop).
func TestClaimerReadOwnPendingSkipsHeldAndCountsDeliveries(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 3)
	ids := readAs(t, c, "s", "g", "me", 3)
	x, y, z := ids[0], ids[1], ids[2]
	cons := newTestConsumer(t, c, "s")
	cons.held.add(&Message{ID: y, Stream: "s"})
	ctx := context.Background()

	msgs, last, err := cons.readOwnPending(ctx, "s", "-", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != x || msgs[0].Deliveries != 2 || fieldsString(msgs[0].Fields) != "i=0 k=v" {
		t.Fatalf("first page of 2 = %s, want %s with 2 deliveries and its fields (held %s skipped)", describe(msgs), x, y)
	}
	if last != y {
		t.Fatalf("last = %q, want %s (the last listed, held or not)", last, y)
	}
	msgs, last, err = cons.readOwnPending(ctx, "s", nextID(last), 10)
	if err != nil || len(msgs) != 1 || msgs[0].ID != z || last != z {
		t.Fatalf("second page = %s, %q, %v; want %s", describe(msgs), last, err, z)
	}
	msgs, last, err = cons.readOwnPending(ctx, "s", nextID(last), 10)
	if err != nil || len(msgs) != 0 || last != "" {
		t.Fatalf("past the end = %s, %q, %v; want nothing and last \"\"", describe(msgs), last, err)
	}
	p := pendingOf(t, c, "s", "g")
	if p[x].deliveries != 2 || p[y].deliveries != 1 || p[z].deliveries != 2 {
		t.Fatalf("delivery counts after the resume: %v; want %s 2, %s 1 (held), %s 2", p, x, y, z)
	}
}

// Catches: a pending entry whose data is gone (trimmed or deleted) that
// is left pending, to be handed out and skipped forever, rather than
// acknowledged.
func TestClaimerReadOwnPendingAcksEntriesWhoseDataIsGone(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 2)
	ids := readAs(t, c, "s", "g", "me", 2)
	redisDo(t, c, "XDEL", "s", ids[0])
	cons := newTestConsumer(t, c, "s")
	msgs, _, err := cons.readOwnPending(context.Background(), "s", "-", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].ID != ids[1] {
		t.Fatalf("resumed %s, want only %s", describe(msgs), ids[1])
	}
	if got := cons.acker.take("s"); !slices.Equal(got, []string{ids[0]}) {
		t.Fatalf("acks queued = %v, want the deleted %s", got, ids[0])
	}
}

// Catches: claimOwn claiming back an entry another consumer has taken over
// (undoing its claim: two consumers handling one entry).
func TestClaimerClaimOwnLeavesOthersEntries(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 2)
	ids := readAs(t, c, "s", "g", "me", 2)
	giveIdle(t, c, "s", "other", ids[0], 1)
	cons := newTestConsumer(t, c, "s")
	entries, gone, err := cons.claimOwn(context.Background(), "s", ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].ID != ids[1] || len(gone) != 0 {
		t.Fatalf("claimOwn = %v, gone %v; want only %s", entries, gone, ids[1])
	}
	p := pendingOf(t, c, "s", "g")
	if p[ids[0]].owner != "other" || p[ids[0]].deliveries != 1 {
		t.Fatalf("the other consumer's entry after claimOwn: %+v; want it untouched", p[ids[0]])
	}
	if p[ids[1]].owner != "me" || p[ids[1]].deliveries != 2 {
		t.Fatalf("own entry after claimOwn: %+v; want me, 2 deliveries", p[ids[1]])
	}
}

// Catches: a due retry that is not claimed back with its delivery counted
// (retried forever past MaxDeliveries), a retry of an entry another
// consumer took over meanwhile that runs here too, or stays held.
func TestClaimerRetryPageClaimsDueRetries(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 2)
	ids := readAs(t, c, "s", "g", "me", 2)
	cons := newTestConsumer(t, c, "s")
	mine := &Message{ID: ids[0], Stream: "s", Deliveries: 1}
	taken := &Message{ID: ids[1], Stream: "s", Deliveries: 1}
	for _, m := range []*Message{mine, taken} {
		cons.held.add(m)
		cons.retries.schedule(m, 0)
	}
	eventually(t, 10*time.Second, "both retries due", func() bool {
		cons.retries.mu.Lock()
		defer cons.retries.mu.Unlock()
		return len(cons.retries.due["s"]) == 2
	})
	giveIdle(t, c, "s", "other", taken.ID, 1)
	msgs := cons.retryPage("s", 10)
	if len(msgs) != 1 || msgs[0].ID != mine.ID || msgs[0].Deliveries != 2 || fieldsString(msgs[0].Fields) != "i=0 k=v" {
		t.Fatalf("retryPage = %s, want %s with 2 deliveries and its fields", describe(msgs), mine.ID)
	}
	if cons.held.has("s", taken.ID) {
		t.Fatal("the retry of an entry another consumer took is still held")
	}
	if !cons.held.has("s", mine.ID) {
		t.Fatal("the retried entry is no longer held")
	}
	p := pendingOf(t, c, "s", "g")
	if p[mine.ID].deliveries != 2 || p[taken.ID].owner != "other" {
		t.Fatalf("pending after retryPage: %v", p)
	}
	if n := cons.Stats().Retried; n != 1 {
		t.Fatalf("Stats().Retried = %d, want 1", n)
	}
}
