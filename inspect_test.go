package redstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestInspectorReportsAKnownState(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	srv.Do(t, "XGROUP", "CREATE", stream, "readers", "0")
	srv.Do(t, "XGROUP", "CREATE", stream, "idle", "$")
	// "alice" takes 4 entries and acks 1: 3 pending, 6 undelivered.
	srv.Do(t, "XREADGROUP", "GROUP", "readers", "alice", "COUNT", "4", "STREAMS", stream, ">")
	srv.Do(t, "XACK", stream, "readers", ids[0])

	info, err := redstream.NewInspector(c).Stream(ctxT(t, 5*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	if info.Length != 10 || info.FirstID != ids[0] || info.LastID != ids[9] || info.LastGeneratedID != ids[9] {
		t.Fatalf("stream info %+v", info)
	}
	groups := map[string]redstream.GroupInfo{}
	for _, g := range info.Groups {
		groups[g.Name] = g
	}
	r := groups["readers"]
	if r.Pending != 3 || r.LastDeliveredID != ids[3] || r.Lag == nil || *r.Lag != 6 {
		t.Fatalf("readers = %+v (lag %v), want pending 3, last delivered %s, lag 6", r, r.Lag, ids[3])
	}
	if len(r.Consumers) != 1 || r.Consumers[0].Name != "alice" || r.Consumers[0].Pending != 3 {
		t.Fatalf("readers consumers = %+v", r.Consumers)
	}
	idle := groups["idle"]
	if idle.Pending != 0 || idle.Lag == nil || *idle.Lag != 0 || len(idle.Consumers) != 0 {
		t.Fatalf("idle = %+v", idle)
	}
}

func TestInspectorLagAfterDeletionIsCountedOrUnknownNeverWrong(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	ids := publishN(t, c, stream, 10)
	srv.Do(t, "XGROUP", "CREATE", stream, "g", ids[1])
	// Deleting an undelivered entry makes Redis' own lag counter unknown.
	srv.Do(t, "XDEL", stream, ids[5])
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 5*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	lag := info.Groups[0].Lag
	if lag == nil || *lag != 7 { // ids[2..9] minus the deleted one
		t.Fatalf("lag = %v, want 7 counted exactly", lag)
	}
}

func TestInspectorErrors(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	if _, err := in.Stream(ctxT(t, 5*time.Second), key(t, "missing")); !errors.Is(err, redstream.ErrNoStream) {
		t.Errorf("missing stream: error = %v, want ErrNoStream", err)
	}
	k := key(t, "list")
	srv.Do(t, "RPUSH", k, "x")
	if _, err := in.Stream(ctxT(t, 5*time.Second), k); !errors.Is(err, redstream.ErrNotStream) {
		t.Errorf("list key: error = %v, want ErrNotStream", err)
	}
}
