package redstreamotel_test

import (
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// TestTraceparentInPublishFieldsIsKept: a traceparent given to Publish
// as a field named with HeaderPrefix is a header by hand (see
// redstream.HeaderPrefix), a custom creation context: the entry keeps it
// as its only traceparent and the send span links to it, as for one
// given in Entry.Headers.
func TestTraceparentInPublishFieldsIsKept(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	pub, _ := redstream.NewPublisher(client, redstream.WithPublishMetrics(tr.hooks))
	id, err := pub.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields(redstream.HeaderPrefix+"traceparent", own, "k", "v"))
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := redstream.NewInspector(client).Range(ctxT(t, 5*time.Second), stream, id, id, 1, false)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("Range = %v, %v", msgs, err)
	}
	n := 0
	for _, h := range msgs[0].Headers {
		if h.Name == "traceparent" {
			n++
		}
	}
	if n != 1 || msgs[0].Header("traceparent") != own {
		t.Errorf("stored headers %v: want the one traceparent %s", msgs[0].Headers, own)
	}
	if send := tr.one(t, "send "+stream); !linksTo(send, traceparentOf(redstream.Fields("traceparent", own))) {
		t.Errorf("the send span does not link to the caller's context")
	}
}
