package redstream_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// tracer is a PublishTracer and HandleTracer that carries a "trace"
// header from publish to handler, as a real tracer would, and records
// what it was told.
type tracer struct {
	redstream.NopMetrics
	name string

	mu        sync.Mutex
	published []publishRecord
	handled   []handleRecord
	order     *[]string // shared by joined tracers: who was called when
}

type publishRecord struct {
	call redstream.PublishCall
	ids  []string
	err  error
}

type handleRecord struct {
	call     redstream.HandleCall
	ids      []string
	outcomes map[int]redstream.Outcome
	errs     map[int]error
	ended    bool
}

type ctxKey string

func (tr *tracer) log(s string) {
	if tr.order != nil {
		*tr.order = append(*tr.order, tr.name+" "+s)
	}
}

func (tr *tracer) TracePublish(ctx context.Context, call *redstream.PublishCall) func([]string, error) {
	tr.mu.Lock()
	tr.log("publish")
	tr.mu.Unlock()
	for i := range call.Entries {
		e := &call.Entries[i]
		e.Headers = append(append([]redstream.Field(nil), e.Headers...), redstream.Field{Name: tr.name, Value: fmt.Sprint(ctx.Value(ctxKey("trace")))})
	}
	rec := publishRecord{call: *call}
	rec.call.Entries = append([]redstream.Entry(nil), call.Entries...)
	return func(ids []string, err error) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.log("published")
		rec.ids, rec.err = append([]string(nil), ids...), err
		tr.published = append(tr.published, rec)
	}
}

func (tr *tracer) TraceHandle(ctx context.Context, call *redstream.HandleCall) (context.Context, redstream.HandleSpan) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.log("handle")
	rec := &handleRecord{call: *call, outcomes: map[int]redstream.Outcome{}, errs: map[int]error{}}
	for _, m := range call.Messages {
		rec.ids = append(rec.ids, m.ID)
	}
	return context.WithValue(ctx, ctxKey(tr.name), call.Messages[0].Header(tr.name)), &span{tr: tr, rec: rec}
}

type span struct {
	tr  *tracer
	rec *handleRecord
}

func (s *span) Outcome(i int, o redstream.Outcome, err error) {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	if _, twice := s.rec.outcomes[i]; twice {
		panic("outcome reported twice")
	}
	s.rec.outcomes[i], s.rec.errs[i] = o, err
}

func (s *span) End() {
	s.tr.mu.Lock()
	defer s.tr.mu.Unlock()
	s.tr.log("end")
	s.rec.ended = true
	s.tr.handled = append(s.tr.handled, *s.rec)
}

func (tr *tracer) handles() []handleRecord {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]handleRecord(nil), tr.handled...)
}

func (tr *tracer) publishes() []publishRecord {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]publishRecord(nil), tr.published...)
}

// A tracer given as the publisher's and the consumer's hooks sees every
// publish before it is sent, adds headers that arrive with the entry,
// learns the IDs; and wraps each handler call, giving the handler its
// context and learning each outcome: ack, retry, dead letter.
func TestTracerWrapsPublishAndHandle(t *testing.T) {
	c := dial(t, sharedRedis(t))
	stream := key(t, "s")
	tr := &tracer{name: "trace"}
	pub, err := redstream.NewPublisher(c, redstream.WithPublishMetrics(tr))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(ctxT(t, 10*time.Second), ctxKey("trace"), "T1")
	okID, err := pub.Publish(ctx, stream, redstream.Fields("do", "ok"))
	if err != nil {
		t.Fatal(err)
	}
	ctx2 := context.WithValue(ctx, ctxKey("trace"), "T2")
	failIDs, err := pub.PublishBatch(ctx2, []redstream.Entry{
		{Stream: stream, Fields: redstream.Fields("do", "fail")},
		{Stream: stream, Fields: redstream.Fields("do", "permanent"), Headers: redstream.Fields("own", "h")},
	})
	if err != nil {
		t.Fatal(err)
	}
	pubs := tr.publishes()
	if len(pubs) != 2 || !reflect.DeepEqual(pubs[0].ids, []string{okID}) || !reflect.DeepEqual(pubs[1].ids, failIDs) || pubs[1].err != nil {
		t.Fatalf("publish records = %+v; want ids %s then %v", pubs, okID, failIDs)
	}
	if s := pubs[0].call.Entries[0].Stream; s != stream || len(pubs[1].call.Entries) != 2 || pubs[1].call.Topic != "" || pubs[1].call.Scheduled {
		t.Fatalf("publish calls = %+v", pubs)
	}

	var seen sync.Map // entry ID -> the context value the handler saw
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		seen.Store(m.ID, ctx.Value(ctxKey("trace")))
		switch m.Value("do") {
		case "fail":
			return errors.New("fails once, then dead-letters")
		case "permanent":
			return redstream.Permanent(errors.New("never"))
		}
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(tr), redstream.MaxDeliveries(2), redstream.RetryBackoff(time.Millisecond, time.Millisecond))
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "four handler calls", func() bool { return len(tr.handles()) == 4 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done

	for id, want := range map[string]string{okID: "T1", failIDs[0]: "T2", failIDs[1]: "T2"} {
		if v, _ := seen.Load(id); v != want {
			t.Errorf("handler of %s saw trace %v, want %s (carried in the header)", id, v, want)
		}
	}
	got := map[string][]redstream.Outcome{}
	for _, h := range tr.handles() {
		if len(h.ids) != 1 || h.call.Batch || h.call.Group != "g" || !h.ended || len(h.outcomes) != 1 {
			t.Fatalf("handle record = %+v", h)
		}
		got[h.ids[0]] = append(got[h.ids[0]], h.outcomes[0])
		if (h.outcomes[0] == redstream.OutcomeAck) != (h.errs[0] == nil) {
			t.Errorf("outcome %v with error %v", h.outcomes[0], h.errs[0])
		}
	}
	want := map[string][]redstream.Outcome{
		okID:       {redstream.OutcomeAck},
		failIDs[0]: {redstream.OutcomeRetry, redstream.OutcomeDeadLetter},
		failIDs[1]: {redstream.OutcomeDeadLetter},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("outcomes = %v, want %v", got, want)
	}
}

// A batch handler's call is one span with an outcome for each entry.
func TestTracerSeesBatchCalls(t *testing.T) {
	c := dial(t, sharedRedis(t))
	stream := key(t, "s")
	ids := publishN(t, c, stream, 6)
	tr := &tracer{name: "trace"}
	cons, err := redstream.NewBatchConsumer(c, stream, "g", redstream.BatchHandlerFunc(func(ctx context.Context, ms []*redstream.Message) error {
		me := &redstream.MessageErrors{Failed: map[string]error{}}
		for _, m := range ms {
			if m.ID == ids[2] {
				me.Failed[m.ID] = redstream.Permanent(errors.New("bad one"))
			}
		}
		if len(me.Failed) == 0 {
			return nil
		}
		return me
	}), redstream.StartID("0"), redstream.BatchSize(6), redstream.WithMetrics(tr))
	if err != nil {
		t.Fatal(err)
	}
	done := runConsumer(t, cons)
	waitFor(t, 10*time.Second, "six outcomes", func() bool {
		n := 0
		for _, h := range tr.handles() {
			n += len(h.outcomes)
		}
		return n == 6
	})
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for _, h := range tr.handles() {
		if !h.call.Batch || !h.ended || len(h.outcomes) != len(h.ids) {
			t.Fatalf("batch record = %+v", h)
		}
		for i, id := range h.ids {
			want := redstream.OutcomeAck
			if id == ids[2] {
				want = redstream.OutcomeDeadLetter
			}
			if h.outcomes[i] != want {
				t.Fatalf("entry %s: outcome %v, want %v", id, h.outcomes[i], want)
			}
		}
	}
}

// A topic's publish and handler calls name the topic and partition; a
// scheduled publish says it is scheduled, and its headers arrive when
// the entry does.
func TestTracerSeesTopicsAndSchedules(t *testing.T) {
	c := dial(t, sharedRedis(t))
	ctx := context.WithValue(ctxT(t, 10*time.Second), ctxKey("trace"), "T")
	top, err := redstream.CreateTopic(ctx, c, key(t, "t"), 4)
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracer{name: "trace"}
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(tr))
	rs, err := pub.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "a", Fields: oneField}, redstream.KeyedEntry{Key: "b", Fields: oneField})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.PublishTopicIn(ctx, top, 0, redstream.KeyedEntry{Key: "a", Fields: oneField}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pub.PublishTopicWait(ctx, top, 0, time.Second, redstream.KeyedEntry{Key: "b", Fields: oneField}); err != nil {
		t.Fatal(err)
	}
	pubs := tr.publishes()
	if len(pubs) != 3 {
		t.Fatalf("%d publish calls traced, want 3", len(pubs))
	}
	wantParts := []int{rs[0].Partition, rs[1].Partition}
	if pubs[0].call.Topic != top.Name || !reflect.DeepEqual(pubs[0].call.Partitions, wantParts) || pubs[0].call.Scheduled {
		t.Fatalf("topic publish call = %+v, want partitions %v", pubs[0].call, wantParts)
	}
	if !pubs[1].call.Scheduled || pubs[1].call.Topic != top.Name || pubs[2].call.Topic != top.Name || pubs[2].ids[0] == "" {
		t.Fatalf("scheduled and waited calls = %+v, %+v", pubs[1], pubs[2])
	}

	var got received
	tc, _ := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if ctx.Value(ctxKey("trace")) != "T" {
			return redstream.Permanent(fmt.Errorf("context carries %v", ctx.Value(ctxKey("trace"))))
		}
		got.add(m)
		return nil
	}), redstream.Block(100*time.Millisecond), redstream.WithMetrics(tr))
	done := make(chan error, 1)
	go func() { done <- tc.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "four events", func() bool { return got.len() == 4 })
	tc.Shutdown(ctxT(t, 5*time.Second))
	<-done
	for _, h := range tr.handles() {
		if h.call.Topic != top.Name || top.Stream(h.call.Partition) != h.call.Messages[0].Stream || h.outcomes[0] != redstream.OutcomeAck {
			t.Fatalf("topic handle = %+v", h)
		}
	}
}

// JoinHooks passes every call to each hook in turn: metrics to all,
// publishes and handler calls to the tracers, the first's context handed
// to the second, spans ended in reverse order.
func TestJoinHooksNestsTracers(t *testing.T) {
	c := dial(t, sharedRedis(t))
	stream := key(t, "s")
	var order []string
	outer := &tracer{name: "outer", order: &order}
	inner := &tracer{name: "inner", order: &order}
	var counted recMetrics
	hooks := redstream.JoinHooks(outer, &counted, inner)
	pub, _ := redstream.NewPublisher(c, redstream.WithPublishMetrics(hooks))
	ctx := context.WithValue(ctxT(t, 10*time.Second), ctxKey("trace"), "T")
	if _, err := pub.Publish(ctx, stream, oneField); err != nil {
		t.Fatal(err)
	}
	seen := make(chan [2]any, 1)
	cons, _ := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		seen <- [2]any{ctx.Value(ctxKey("outer")), ctx.Value(ctxKey("inner"))}
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(hooks))
	done := runConsumer(t, cons)
	v := <-seen
	waitFor(t, 5*time.Second, "the span's end", func() bool { return len(inner.handles()) == 1 && len(outer.handles()) == 1 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	if v != [2]any{"T", "T"} {
		t.Fatalf("handler context carries %v, want both tracers' values", v)
	}
	want := []string{"outer publish", "inner publish", "inner published", "outer published", "outer handle", "inner handle", "inner end", "outer end"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("calls in order %q, want %q", order, want)
	}
	counted.mu.Lock()
	defer counted.mu.Unlock()
	if counted.published != 1 || counted.outcomes[redstream.OutcomeAck] != 1 {
		t.Fatalf("the metrics between them counted %d published, %v handled", counted.published, counted.outcomes)
	}
}
