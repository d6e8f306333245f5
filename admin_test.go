package redstream_test

import (
	"errors"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
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
