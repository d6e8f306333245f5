package redstream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

type order struct {
	ID    int      `json:"id"`
	Items []string `json:"items"`
}

func TestJSONRoundTripThroughRedis(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	p, _ := redstream.NewPublisher(c)
	if _, err := redstream.PublishJSON(ctxT(t, 5*time.Second), p, stream, order{ID: 1, Items: []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	// A plain entry without the json field, and one with broken JSON.
	srv.Do(t, "XADD", stream, "*", "whatHappened", "ticket received")
	srv.Do(t, "XADD", stream, "*", "json", "{not json")
	got := make(chan order, 3)
	h := redstream.HandleJSON(func(ctx context.Context, m *redstream.Message, o order) error {
		got <- o
		return nil
	})
	cons, _ := redstream.NewConsumer(c, stream, "g", h, redstream.StartID("0"))
	runConsumer(t, cons)
	waitFor(t, 10*time.Second, "3 attempts", func() bool { st := cons.Stats(); return st.Acked+st.Failed == 3 })
	if o := <-got; o.ID != 1 || len(o.Items) != 2 {
		t.Fatalf("decoded %+v", o)
	}
	waitFor(t, 10*time.Second, "2 dead letters", func() bool { return cons.Stats().DeadLettered == 2 })
	if st := cons.Stats(); st.Handled != 1 || st.Failed != 2 {
		t.Fatalf("stats %+v: undecodable entries must fail, not reach the handler", st)
	}
	if p := pendingCount(t, c, stream, "g"); p != 0 {
		t.Fatalf("pending = %d, want 0: undecodable entries go to the dead-letter stream", p)
	}
	dlq, _ := redstream.NewDeadLetterQueue(c, stream, "")
	dead, err := dlq.List(ctxT(t, 5*time.Second), "-", "+", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 2 || dead[0].Deliveries != 1 || !strings.Contains(dead[0].Error, "decode") {
		t.Fatalf("dead letters %+v, want the 2 undecodable entries after one delivery", dead)
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for name, m := range map[string]*redstream.Message{
		"missing field": {ID: "1-0", Fields: redstream.Fields("other", "x")},
		"bad json":      {ID: "1-0", Fields: redstream.Fields("json", "{")},
		"wrong type":    {ID: "1-0", Fields: redstream.Fields("json", `{"id":"seven"}`)},
	} {
		if _, err := redstream.DecodeJSON[order](m); !errors.Is(err, redstream.ErrDecode) {
			t.Errorf("%s: error = %v, want ErrDecode", name, err)
		}
	}
	if _, err := redstream.EncodeJSON(make(chan int)); err == nil {
		t.Error("EncodeJSON of a channel succeeded")
	}
}
