package redstream

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// longIdle is how idle ageEntries makes entries look.
const longIdle = 10 * time.Minute

// ageEntries gives ids to owner as if they had sat untouched for
// longIdle, without counting a delivery.
func ageEntries(t *testing.T, c rueidis.Client, stream, group, owner string, ids ...string) {
	t.Helper()
	args := append([]string{"XCLAIM", stream, group, owner, "0"}, ids...)
	args = append(args, "IDLE", fmt.Sprint(longIdle.Milliseconds()), "JUSTID")
	redisDo(t, c, args...)
}

type lostLog struct {
	mu  sync.Mutex
	ids []string
}

func (l *lostLog) lost(stream, id string) {
	l.mu.Lock()
	l.ids = append(l.ids, stream+"/"+id)
	l.mu.Unlock()
}

func (l *lostLog) sorted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Sorted(slices.Values(l.ids))
}

func newTestKeepAlive(c rueidis.Client, name string, every time.Duration) (*keepAlive, *heldSet, *lostLog, *lifecycle) {
	life := newLifecycle()
	held := newHeldSet()
	lost := &lostLog{}
	return &keepAlive{
		client: c, group: "g", name: name, every: every, held: held, life: &life,
		log: slog.New(slog.DiscardHandler), onLost: lost.lost,
	}, held, lost, &life
}

// Catches: a refresh that does not reset the idle time of held entries
// (a slow handler's entry is claimed by another consumer), counts a
// delivery while at it (MaxDeliveries reached by waiting), stops after the
// first 256 IDs of a stream, refreshes entries that are not held, or
// reports owned entries lost.
func TestKeepAliveRefreshKeepsHeldEntriesFresh(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 301)
	all := readAs(t, c, "s", "g", "me", 301)
	ageEntries(t, c, "s", "g", "me", all...)
	k, held, lost, _ := newTestKeepAlive(c, "me", time.Hour)
	heldIDs, notHeld := all[:300], all[300]
	for _, id := range heldIDs {
		held.add(&Message{ID: id, Stream: "s"})
	}
	k.refresh()
	p := pendingOf(t, c, "s", "g")
	for _, id := range heldIDs {
		e := p[id]
		if e.owner != "me" || e.idle >= time.Minute || e.deliveries != 1 {
			t.Fatalf("held entry %s after refresh: %+v; want owner me, idle well under a minute, 1 delivery", id, e)
		}
	}
	if e := p[notHeld]; e.idle < longIdle {
		t.Fatalf("an entry that is not held was refreshed: %+v", e)
	}
	if got := lost.sorted(); len(got) != 0 {
		t.Fatalf("owned entries reported lost: %v", got)
	}
	if n := len(held.byStream()["s"]); n != 300 {
		t.Fatalf("%d entries held after refresh, want 300", n)
	}
}

// Catches: a refresh that claims back an entry another consumer took over
// meanwhile (two consumers handling it, and the other's claim undone), or
// that does not report it lost and let it go (its retry would run here
// too); and an entry acknowledged meanwhile (no longer pending) that stays
// held, is pending again, or is reported taken over (a false warning).
func TestKeepAliveReportsEntriesTakenOverAndLeavesThem(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 3)
	ids := readAs(t, c, "s", "g", "me", 3)
	mine, taken, acked := ids[0], ids[1], ids[2]
	ageEntries(t, c, "s", "g", "me", mine)
	ageEntries(t, c, "s", "g", "other", taken)
	redisDo(t, c, "XACK", "s", "g", acked)
	k, held, lost, _ := newTestKeepAlive(c, "me", time.Hour)
	for _, id := range ids {
		held.add(&Message{ID: id, Stream: "s"})
	}
	k.refresh()
	// The acknowledged one is let go silently: no other consumer has it.
	want := []string{"s/" + taken}
	if got := lost.sorted(); !slices.Equal(got, want) {
		t.Fatalf("reported lost %v, want %v", got, want)
	}
	if held.has("s", taken) || held.has("s", acked) || !held.has("s", mine) {
		t.Fatalf("held after refresh: %v, want only %s", held.byStream(), mine)
	}
	p := pendingOf(t, c, "s", "g")
	if e := p[taken]; e.owner != "other" || e.idle < longIdle || e.deliveries != 1 {
		t.Fatalf("the entry another consumer took: %+v; want it left with other, untouched", e)
	}
	if _, ok := p[acked]; ok {
		t.Fatal("an acknowledged entry is pending again")
	}
	if e := p[mine]; e.owner != "me" || e.idle >= time.Minute {
		t.Fatalf("own entry not refreshed: %+v", e)
	}
}

// Catches: a loop that never refreshes (only refresh() works), or that
// does not end on stop or on Close (Run would hang, or the loop leak).
func TestKeepAliveLoopRefreshesAndStops(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	addEntries(t, c, "s", 1)
	ids := readAs(t, c, "s", "g", "me", 1)
	ageEntries(t, c, "s", "g", "me", ids...)
	k, held, _, _ := newTestKeepAlive(c, "me", 10*time.Millisecond)
	held.add(&Message{ID: ids[0], Stream: "s"})
	k.start()
	eventually(t, 10*time.Second, "the loop refreshed the held entry", func() bool {
		return pendingOf(t, c, "s", "g")[ids[0]].idle < time.Minute
	})
	stopped := make(chan struct{})
	go func() { k.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("keepAlive.stop did not return")
	}

	k2, _, _, life := newTestKeepAlive(c, "me", time.Hour)
	k2.start()
	life.close()
	select {
	case <-k2.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the keep-alive loop did not end on Close")
	}
}
