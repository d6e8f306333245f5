package redstream_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// TestGuardedDeletesClassifyTheKey: DeleteGroup and DeleteConsumer say
// ErrNoStream for a missing stream and ErrNotStream for a key of another
// type, as DeleteGroup's documentation promises, in words without the
// Lua script's SHA that the CLI and the dashboard show to operators.
func TestGuardedDeletesClassifyTheKey(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 5*time.Second)
	missing, str := key(t, "missing"), key(t, "str")
	srv.Do(t, "SET", str, "x")

	_, err := in.DeleteGroup(ctx, missing, "g", false)
	if !errors.Is(err, redstream.ErrNoStream) {
		t.Errorf("DeleteGroup on a missing stream: %v, want ErrNoStream", err)
	}
	_, err = in.DeleteConsumer(ctx, missing, "g", "c", false)
	if !errors.Is(err, redstream.ErrNoStream) {
		t.Errorf("DeleteConsumer on a missing stream: %v, want ErrNoStream", err)
	}
	for what, err := range map[string]error{
		"DeleteGroup":    func() error { _, err := in.DeleteGroup(ctx, str, "g", false); return err }(),
		"DeleteConsumer": func() error { _, err := in.DeleteConsumer(ctx, str, "g", "c", false); return err }(),
	} {
		if !errors.Is(err, redstream.ErrNotStream) {
			t.Errorf("%s on a string key: %v, want ErrNotStream", what, err)
		}
		if err != nil && strings.Contains(err.Error(), "script:") {
			t.Errorf("%s on a string key says %q, with the script's internals", what, err)
		}
	}
}

// TestSetGroupTimeNeverSkipsFutureEntries: "replay the last hour" on a
// stream whose IDs were given explicitly (small, not milliseconds) must not
// put the group beyond every ID the stream will get: the group would then
// skip each new entry, with lag 0, which is what ErrBeyondEnd guards
// against in SetGroupID.
func TestSetGroupTimeNeverSkipsFutureEntries(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	in := redstream.NewInspector(c)
	ctx := ctxT(t, 5*time.Second)
	stream := key(t, "s")
	srv.Do(t, "XADD", stream, "1-1", "k", "a")
	srv.Do(t, "XADD", stream, "2-1", "k", "b")
	srv.Do(t, "XGROUP", "CREATE", stream, "g", "0")

	err := in.SetGroupTime(ctx, stream, "g", time.Now().Add(-time.Hour), false)
	if errors.Is(err, redstream.ErrBeyondEnd) {
		return // refusing is fine too
	}
	if err != nil {
		t.Fatal(err)
	}
	srv.Do(t, "XADD", stream, "3-1", "k", "c")
	got, err := srv.Do(t, "XREADGROUP", "GROUP", "g", "c1", "COUNT", "10", "STREAMS", stream, ">").AsXRead()
	if err != nil && !strings.Contains(err.Error(), "nil") {
		t.Fatal(err)
	}
	if len(got[stream]) == 0 {
		last, _ := groupState(t, c, stream, "g")
		t.Errorf("after SetGroupTime(an hour ago) the group (at %s) is not delivered the new entry 3-1", last)
	}
}
