package redstream_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/devserver"
	"github.com/redstream-go/redstream/redstreamtest"
)

func TestGuardedDeletesRefuseWhilePending(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 3)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")
	srv.Do(t, "XREADGROUP", "GROUP", "g", "holder", "COUNT", "2", "STREAMS", stream, ">")
	srv.Do(t, "XGROUP", "CREATECONSUMER", stream, "g", "idle")
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 5*time.Second)

	if n, err := in.DeleteConsumer(ctx, stream, "g", "holder", false); !errors.Is(err, redstream.ErrHasPending) || n != 2 {
		t.Fatalf("DeleteConsumer of a holder = %d, %v; want refusal with 2 pending", n, err)
	}
	if n, err := in.DeleteConsumer(ctx, stream, "g", "idle", false); err != nil || n != 0 {
		t.Fatalf("DeleteConsumer of an idle consumer = %d, %v", n, err)
	}
	if _, err := in.DeleteConsumer(ctx, stream, "g", "nobody", false); !errors.Is(err, redstream.ErrNoConsumer) {
		t.Fatalf("DeleteConsumer of a missing consumer: %v", err)
	}
	if n, err := in.DeleteGroup(ctx, stream, "g", false); !errors.Is(err, redstream.ErrHasPending) || n != 2 {
		t.Fatalf("DeleteGroup with pending = %d, %v; want refusal", n, err)
	}
	if n, err := in.DeleteGroup(ctx, stream, "g", true); err != nil || n != 2 {
		t.Fatalf("DeleteGroup --force = %d, %v", n, err)
	}
	if _, err := in.DeleteGroup(ctx, stream, "g", false); !errors.Is(err, redstream.ErrNoGroup) {
		t.Fatalf("DeleteGroup of a missing group: %v", err)
	}
}

// groupState returns the last delivered ID and lag of group, failing the
// test when the group is missing.
func groupState(t *testing.T, c rueidis.Client, stream, group string) (string, int64) {
	t.Helper()
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 5*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range info.Groups {
		if g.Name == group {
			lag := int64(-1)
			if g.Lag != nil {
				lag = *g.Lag
			}
			return g.LastDeliveredID, lag
		}
	}
	t.Fatalf("stream %s has no group %s", stream, group)
	return "", 0
}

func TestCreateGroup(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")

	if err := in.CreateGroup(ctx, stream, "g", "0", false); !errors.Is(err, redstream.ErrNoStream) {
		t.Fatalf("CreateGroup on a missing stream without mkstream: %v, want ErrNoStream", err)
	}
	if n := srv.Do(t, "EXISTS", stream); n.Error() != nil || mustInt(t, n) != 0 {
		t.Fatal("CreateGroup without mkstream created the stream")
	}
	if err := in.CreateGroup(ctx, stream, "g", "0", true); err != nil {
		t.Fatalf("CreateGroup with mkstream: %v", err)
	}
	if err := in.CreateGroup(ctx, stream, "g", "$", true); !errors.Is(err, redstream.ErrGroupExists) {
		t.Fatalf("CreateGroup twice: %v, want ErrGroupExists", err)
	}
	ids := publishN(t, c, stream, 4)
	if err := in.CreateGroup(ctx, stream, "from-second", ids[1], false); err != nil {
		t.Fatal(err)
	}
	if err := in.CreateGroup(ctx, stream, "new-only", "$", false); err != nil {
		t.Fatal(err)
	}
	for group, want := range map[string]int64{"g": 4, "from-second": 2, "new-only": 0} {
		if _, lag := groupState(t, c, stream, group); lag != want {
			t.Errorf("group %s: lag %d, want %d", group, lag, want)
		}
	}

	str := key(t, "str")
	srv.Do(t, "SET", str, "x")
	if err := in.CreateGroup(ctx, str, "g", "$", true); !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("CreateGroup on a string: %v, want ErrNotStream", err)
	}
	if err := in.CreateGroup(ctx, stream, "bad", "yesterday", false); !errors.Is(err, redstream.ErrInvalidID) {
		t.Fatalf("CreateGroup at a malformed start: %v, want ErrInvalidID", err)
	}
}

func mustInt(t *testing.T, r rueidis.RedisResult) int64 {
	t.Helper()
	n, err := r.AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSetGroupIDRefusesBeyondTheEnd: a position above the stream's last
// generated ID would make the group skip entries while showing lag 0; it
// is refused, the group unmoved, unless forced.
func TestSetGroupIDRefusesBeyondTheEnd(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 5)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "$")

	if err := in.SetGroupID(ctx, stream, "g", "0", false); err != nil {
		t.Fatal(err)
	}
	if got, lag := groupState(t, c, stream, "g"); got != "0-0" || lag != 5 {
		t.Fatalf("after SetGroupID 0: last delivered %s, lag %d; want 0-0, 5", got, lag)
	}
	if err := in.SetGroupID(ctx, stream, "g", ids[2], false); err != nil {
		t.Fatal(err)
	}
	if got, lag := groupState(t, c, stream, "g"); got != ids[2] || lag != 2 {
		t.Fatalf("after SetGroupID %s: last delivered %s, lag %d; want lag 2", ids[2], got, lag)
	}
	last, _ := redstream.ParseID(ids[4])
	beyond := redstream.ID{Ms: last.Ms, Seq: last.Seq + 1}.String()
	for _, id := range []string{beyond, "99999999999999"} {
		if err := in.SetGroupID(ctx, stream, "g", id, false); !errors.Is(err, redstream.ErrBeyondEnd) {
			t.Fatalf("SetGroupID %s beyond the last entry %s: %v, want ErrBeyondEnd", id, last, err)
		}
		if got, _ := groupState(t, c, stream, "g"); got != ids[2] {
			t.Fatalf("the refused SetGroupID %s moved the group to %s", id, got)
		}
	}
	if err := in.SetGroupID(ctx, stream, "g", ids[4], false); err != nil {
		t.Fatalf("SetGroupID to the last entry: %v", err)
	}
	if err := in.SetGroupID(ctx, stream, "g", beyond, true); err != nil {
		t.Fatalf("SetGroupID beyond the end with force: %v", err)
	}
	if got, _ := groupState(t, c, stream, "g"); got != beyond {
		t.Fatalf("forced SetGroupID: last delivered %s, want %s", got, beyond)
	}
	if err := in.SetGroupID(ctx, stream, "g", "$", false); err != nil {
		t.Fatal(err)
	}
	if got, _ := groupState(t, c, stream, "g"); got != ids[4] {
		t.Fatalf("SetGroupID $: last delivered %s, want %s", got, ids[4])
	}

	for _, id := range []string{"0", beyond} {
		if err := in.SetGroupID(ctx, stream, "nope", id, false); !errors.Is(err, redstream.ErrNoGroup) || errors.Is(err, redstream.ErrBeyondEnd) {
			t.Fatalf("SetGroupID of a missing group to %s: %v, want ErrNoGroup", id, err)
		}
	}
	if err := in.SetGroupID(ctx, key(t, "missing"), "g", "0", true); !errors.Is(err, redstream.ErrNoStream) {
		t.Fatalf("SetGroupID on a missing stream: %v, want ErrNoStream", err)
	}
	if err := in.SetGroupID(ctx, stream, "g", "x-1", true); !errors.Is(err, redstream.ErrInvalidID) {
		t.Fatalf("SetGroupID to a malformed ID: %v, want ErrInvalidID", err)
	}
}

func TestSetGroupTime(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	// Three entries an hour ago, two now.
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 3 {
		srv.Do(t, "XADD", stream, fmt.Sprintf("%d-%d", old, i+1), "n", "old")
	}
	publishN(t, c, stream, 2)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "$")

	if err := in.SetGroupTime(ctx, stream, "g", time.Now().Add(-30*time.Minute), false); err != nil {
		t.Fatal(err)
	}
	if _, lag := groupState(t, c, stream, "g"); lag != 2 {
		t.Fatalf("after SetGroupTime 30 minutes ago: lag %d, want 2 (the new entries)", lag)
	}
	if err := in.SetGroupTime(ctx, stream, "g", time.Now().Add(-2*time.Hour), false); err != nil {
		t.Fatal(err)
	}
	if _, lag := groupState(t, c, stream, "g"); lag != 5 {
		t.Fatalf("after SetGroupTime 2 hours ago: lag %d, want 5", lag)
	}
	before, _ := groupState(t, c, stream, "g")
	future := time.Now().Add(time.Hour)
	if err := in.SetGroupTime(ctx, stream, "g", future, false); !errors.Is(err, redstream.ErrBeyondEnd) {
		t.Fatalf("SetGroupTime in the future: %v, want ErrBeyondEnd", err)
	}
	if got, _ := groupState(t, c, stream, "g"); got != before {
		t.Fatalf("the refused SetGroupTime moved the group to %s", got)
	}
	if err := in.SetGroupTime(ctx, stream, "g", future, true); err != nil {
		t.Fatal(err)
	}
	want := redstream.ID{Ms: uint64(future.UnixMilli())}.String()
	if got, _ := groupState(t, c, stream, "g"); got != want {
		t.Fatalf("forced SetGroupTime: last delivered %s, want %s", got, want)
	}
	if err := in.SetGroupTime(ctx, stream, "nope", time.Now(), false); !errors.Is(err, redstream.ErrNoGroup) {
		t.Fatalf("SetGroupTime of a missing group: %v, want ErrNoGroup", err)
	}
}

func messageIDs(ms []*redstream.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func TestRange(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 10*time.Second)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 5)
	rev := slices.Clone(ids)
	slices.Reverse(rev)

	for _, tc := range []struct {
		start, end string
		count      int64
		reverse    bool
		want       []string
	}{
		{"-", "+", 0, false, ids},
		{"-", "+", 0, true, rev},
		{"-", "+", 2, false, ids[:2]},
		{"-", "+", 2, true, rev[:2]},
		{ids[1], ids[3], 10, false, ids[1:4]},
		{ids[1], ids[3], 10, true, []string{ids[3], ids[2], ids[1]}},
		{"(" + ids[1], "+", 10, false, ids[2:]},
		{"-", "(" + ids[3], 10, false, ids[:3]},
		{"(" + ids[1], "(" + ids[3], 10, true, []string{ids[2]}},
		{"(" + ids[4], "+", 10, false, []string{}},
		{"-", "(0-0", 10, false, []string{}},
	} {
		got, err := in.Range(ctx, stream, tc.start, tc.end, tc.count, tc.reverse)
		if err != nil {
			t.Fatalf("Range(%s, %s, %d, %v): %v", tc.start, tc.end, tc.count, tc.reverse, err)
		}
		if g := messageIDs(got); !slices.Equal(g, tc.want) {
			t.Errorf("Range(%s, %s, %d, %v) = %v, want %v", tc.start, tc.end, tc.count, tc.reverse, g, tc.want)
		}
	}
	got, err := in.Range(ctx, stream, ids[0], ids[0], 1, false)
	if err != nil || len(got) != 1 {
		t.Fatalf("Range of one entry = %v, %v", got, err)
	}
	if m := got[0]; m.Stream != stream || m.Deliveries != 0 || m.Value("seq") != "0" {
		t.Errorf("Range message = %+v; want stream %s, deliveries 0, seq 0", m, stream)
	}

	if got, err := in.Range(ctx, key(t, "missing"), "-", "+", 10, false); err != nil || len(got) != 0 {
		t.Errorf("Range of a missing stream = %v, %v; want none", got, err)
	}
	str := key(t, "str")
	srv.Do(t, "SET", str, "x")
	if _, err := in.Range(ctx, str, "-", "+", 10, false); !errors.Is(err, redstream.ErrNotStream) {
		t.Errorf("Range of a string: %v, want ErrNotStream", err)
	}
	if _, err := in.Range(ctx, stream, "yesterday", "+", 10, false); !errors.Is(err, redstream.ErrInvalidID) {
		t.Errorf("Range from a malformed ID: %v, want ErrInvalidID", err)
	}
}

func TestTail(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 30*time.Second)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 5)

	got, err := in.Tail(ctx, stream, ids[1], 0, 0)
	if err != nil || !slices.Equal(messageIDs(got), ids[2:]) {
		t.Fatalf("Tail after %s = %v, %v; want %v", ids[1], messageIDs(got), err, ids[2:])
	}
	if got[0].Deliveries != 0 || got[0].Stream != stream || got[0].Value("seq") != "2" {
		t.Errorf("Tail message = %+v", got[0])
	}
	if got, err := in.Tail(ctx, stream, "0", 2, 0); err != nil || !slices.Equal(messageIDs(got), ids[:2]) {
		t.Fatalf("Tail from 0, 2 = %v, %v; want %v", messageIDs(got), err, ids[:2])
	}
	if got, err := in.Tail(ctx, stream, ids[4], 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("Tail after the last entry without waiting = %v, %v; want none", messageIDs(got), err)
	}

	// Waiting: an entry added while Tail blocks is returned.
	type result struct {
		msgs []*redstream.Message
		err  error
	}
	done := make(chan result, 1)
	blocked := blockedClients(t, c)
	go func() {
		msgs, err := in.Tail(ctx, stream, "$", 10, 20*time.Second)
		done <- result{msgs, err}
	}()
	waitFor(t, 10*time.Second, "Tail waiting", func() bool { return blockedClients(t, c) > blocked })
	added := publishN(t, c, stream, 1)
	r := <-done
	if r.err != nil || !slices.Equal(messageIDs(r.msgs), added) {
		t.Fatalf("waiting Tail = %v, %v; want %v", messageIDs(r.msgs), r.err, added)
	}

	str := key(t, "str")
	srv.Do(t, "SET", str, "x")
	if _, err := in.Tail(ctx, str, "0", 10, 0); !errors.Is(err, redstream.ErrNotStream) {
		t.Errorf("Tail of a string: %v, want ErrNotStream", err)
	}
	if _, err := in.Tail(ctx, stream, "0", 10, -time.Second); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("Tail with a negative block: %v, want ErrInvalidOption", err)
	}
	if _, err := in.Tail(ctx, stream, "+", 10, 0); !errors.Is(err, redstream.ErrInvalidID) {
		t.Errorf("Tail after a malformed ID: %v, want ErrInvalidID", err)
	}
}

func TestServerStats(t *testing.T) {
	srv := redstreamtest.StartRedis(t, redstreamtest.AppendOnly("everysec"),
		redstreamtest.Args("--maxmemory", "64mb", "--maxmemory-policy", "noeviction"))
	c := dial(t, srv)
	ctx := ctxT(t, 10*time.Second)
	s, err := redstream.NewInspector(c).Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := redstream.ServerVersion(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Version == "" || s.Version != v.Version:
		t.Errorf("Version %q, want %q", s.Version, v.Version)
	case s.Mode != "standalone":
		t.Errorf("Mode %q, want standalone", s.Mode)
	case s.MaxMemory != 64<<20 || s.MaxMemoryPolicy != "noeviction":
		t.Errorf("maxmemory %d %q, want %d noeviction", s.MaxMemory, s.MaxMemoryPolicy, 64<<20)
	case !s.AOFEnabled || s.AppendFsync == nil || *s.AppendFsync != "everysec":
		t.Errorf("AOF %v, appendfsync %v; want on, everysec", s.AOFEnabled, s.AppendFsync)
	case s.RDBSave == nil || *s.RDBSave != "":
		t.Errorf("RDBSave %v, want \"\" (the test server saves no snapshots)", s.RDBSave)
	case s.UsedMemory <= 0:
		t.Errorf("UsedMemory %d", s.UsedMemory)
	case len(s.Nodes) != 1 || s.Nodes[0].Addr != srv.Addr() || s.Nodes[0].Role != "master":
		t.Errorf("Nodes %+v, want the one master at %s", s.Nodes, srv.Addr())
	}

	// A user who may not read the configuration still gets the rest.
	limited := aclUser(t, srv, "ACL SETUSER no-config reset on >pw ~* +ping +cluster|slots +info")
	s, err = redstream.NewInspector(limited).Server(ctx)
	if err != nil {
		t.Fatalf("Server as a user without CONFIG: %v", err)
	}
	if s.AppendFsync != nil || s.RDBSave != nil || !s.AOFEnabled || s.Version == "" {
		t.Errorf("Server without CONFIG = %+v; want the INFO facts and no settings", s)
	}
}

func TestServerStatsOnCluster(t *testing.T) {
	cl, c := startCluster(t, 3, 1)
	addrs := cl.Addrs()
	in := redstream.NewInspector(c)
	var s *redstream.ServerStats
	// The nodes learn who replicates whom by gossip: wait until the
	// node asked knows all three replicas.
	waitFor(t, 30*time.Second, "three replicas known", func() bool {
		var err error
		if s, err = in.Server(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		replicas := 0
		for _, n := range s.Nodes {
			if n.Role == "replica" {
				replicas++
			}
		}
		return replicas == 3
	})
	if s.Mode != "cluster" || len(s.Nodes) != 6 || s.UsedMemory <= 0 {
		t.Fatalf("Server on a 6-node cluster = mode %q, %d nodes, used memory %d", s.Mode, len(s.Nodes), s.UsedMemory)
	}
	masters, slots := map[string]bool{}, 0
	for _, n := range s.Nodes {
		if !slices.Contains(addrs, n.Addr) {
			t.Errorf("node %+v: address not one of %v", n, addrs)
		}
		if n.Role == "master" {
			masters[n.ID] = true
			slots += n.Slots
			if n.UsedMemory == nil || *n.UsedMemory <= 0 {
				t.Errorf("master %s: no used memory", n.Addr)
			}
		}
	}
	if len(masters) != 3 || slots != 16384 {
		t.Fatalf("%d masters serving %d slots, want 3 serving 16384: %+v", len(masters), slots, s.Nodes)
	}
	for _, n := range s.Nodes {
		if n.Role == "replica" && !masters[n.MasterID] {
			t.Errorf("replica %+v: not of one of the masters", n)
		}
	}
}

// A Redis-compatible server that lacks some INFO sections (the embedded
// dev server, which `redstream dev-server` and the demo run on) still
// gives its version; the facts it does not know stay unknown.
func TestServerStatsOnTheEmbeddedServer(t *testing.T) {
	srv, err := devserver.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	c, err := redstream.Dial(ctxT(t, 5*time.Second), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	st, err := redstream.NewInspector(c).Server(ctxT(t, 5*time.Second))
	if err != nil {
		t.Fatalf("Server on the embedded server: %v", err)
	}
	if st.Version == "" || st.Mode != "standalone" {
		t.Fatalf("Server = %+v, want its version and standalone mode", st)
	}
}
