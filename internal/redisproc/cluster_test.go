package redisproc

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestStartClusterServesKeysOnEverySlot(t *testing.T) {
	cl, err := StartCluster(t.TempDir(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Kill()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: cl.Addrs(), DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Mode() != rueidis.ClientModeCluster {
		t.Fatalf("client mode %v, want cluster", c.Mode())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} { // spread over the masters
		if err := c.Do(ctx, c.B().Set().Key(k).Value(k).Build()).Error(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	if n := len(c.Nodes()); n != 3 {
		t.Fatalf("client knows %d nodes, want 3", n)
	}
}
