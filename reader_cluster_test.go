package redstream

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/redisproc"
)

// On a Redis Cluster, CLIENT UNBLOCK must reach the node of the reader's
// connection: the cluster client would route a command without a key to
// any node, where the reader's CLIENT ID means nothing or someone else.
func TestStreamReaderUnblocksOnTheStreamsClusterNode(t *testing.T) {
	cl, err := redisproc.StartCluster(t.TempDir(), 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Kill)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: cl.Addrs(), DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	missed := 0
	const tries = 12
	for i := range tries {
		stream := fmt.Sprintf("{s%d}", i)
		ctx := context.Background()
		if err := c.Do(ctx, c.B().XgroupCreate().Key(stream).Group("g").Id("0").Mkstream().Build()).Error(); err != nil {
			t.Fatal(err)
		}
		stopping := make(chan struct{})
		rd := newStreamReader(c, stream, "g", "me", stopping, ctx, ctx)
		done := make(chan error, 1)
		go func() { _, _, _, err := rd.read(10, 30*time.Second, nil); done <- err }()
		// Wait until the read is blocked on its node.
		for deadline := time.Now().Add(10 * time.Second); ; {
			id := rd.id.Load()
			blocked := false
			for _, n := range c.Nodes() {
				s, _ := n.Do(ctx, n.B().Arbitrary("CLIENT", "LIST").Build()).ToString()
				if strings.Contains(s, "cmd=xreadgroup") && strings.Contains(s, fmt.Sprintf("id=%d ", id)) {
					blocked = true
				}
			}
			if blocked {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("never blocked")
			}
			time.Sleep(5 * time.Millisecond)
		}
		rd.unblock()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			missed++
			close(stopping) // the repeating unblockOnStop gets it eventually
			<-done
		}
		rd.close()
	}
	t.Logf("a single unblock() missed %d of %d blocked reads on a 3-master cluster", missed, tries)
	if missed > 0 {
		t.Fail()
	}
}
