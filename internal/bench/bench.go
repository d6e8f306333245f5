// Package bench measures redstream on a live Redis: publish and consume
// throughput, end-to-end latency, the consumer's memory under a large
// backlog, and the seed article's tickets scenario. The CLI's bench
// command and the peer comparison in benchmarks/ both use it, so their
// redstream figures come from the same code.
package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// Result is one measured figure.
type Result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"` // "msgs/s", "ms", "MB", "s"
	Note  string  `json:"note,omitempty"`
}

// Payload returns a field value of size bytes.
func Payload(size int) string { return strings.Repeat("x", size) }

func fields(payload string) []redstream.Field {
	return []redstream.Field{{Name: "payload", Value: payload}}
}

// Cleanup deletes keys a measurement wrote (the CLI's bench command ends
// with it).
func Cleanup(ctx context.Context, c rueidis.Client, keys ...string) error {
	return reset(ctx, c, keys...)
}

func reset(ctx context.Context, c rueidis.Client, keys ...string) error {
	return c.Do(ctx, c.B().Del().Key(keys...).Build()).Error()
}

// PublishLoop measures n calls of Publish from one goroutine.
func PublishLoop(ctx context.Context, c rueidis.Client, stream string, n, size int) (Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return Result{}, err
	}
	p, _ := redstream.NewPublisher(c)
	f := fields(Payload(size))
	start := time.Now()
	for range n {
		if _, err := p.Publish(ctx, stream, f); err != nil {
			return Result{}, err
		}
	}
	return rate("publish, 1 goroutine", n, time.Since(start)), nil
}

// PublishConcurrent measures n calls of Publish spread over g goroutines.
func PublishConcurrent(ctx context.Context, c rueidis.Client, stream string, n, g, size int) (Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return Result{}, err
	}
	p, _ := redstream.NewPublisher(c)
	f := fields(Payload(size))
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := p.Publish(ctx, stream, f); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return Result{}, err
	}
	return rate(fmt.Sprintf("publish, %d goroutines", g), n, time.Since(start)), nil
}

// PublishBatch measures n entries sent with PublishBatch in batches, by
// a Publisher made with opts.
func PublishBatch(ctx context.Context, c rueidis.Client, stream string, n, batch, size int, opts ...redstream.PublisherOption) (Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return Result{}, err
	}
	p, err := redstream.NewPublisher(c, opts...)
	if err != nil {
		return Result{}, err
	}
	f := fields(Payload(size))
	entries := make([]redstream.Entry, batch)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: f}
	}
	start := time.Now()
	for done := 0; done < n; done += batch {
		k := min(batch, n-done)
		if _, err := p.PublishBatch(ctx, entries[:k]); err != nil {
			return Result{}, err
		}
	}
	return rate(fmt.Sprintf("PublishBatch (%d per call)", batch), n, time.Since(start)), nil
}

// PublishBatchOnce is PublishBatch with a distinct MsgID on every entry,
// so each goes through the publish-once script: its rate against
// PublishBatch's is the cost of idempotent publish. The MsgIDs are new on
// each call, and their markers are deleted after the measurement.
func PublishBatchOnce(ctx context.Context, c rueidis.Client, stream string, n, batch, size int) (Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return Result{}, err
	}
	p, _ := redstream.NewPublisher(c)
	f := fields(Payload(size))
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36) + "-"
	entries := make([]redstream.Entry, n)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: f, MsgID: prefix + strconv.Itoa(i)}
	}
	start := time.Now()
	for done := 0; done < n; done += batch {
		if _, err := p.PublishBatch(ctx, entries[done:min(done+batch, n)]); err != nil {
			return Result{}, err
		}
	}
	r := rate(fmt.Sprintf("PublishBatch with MsgIDs (%d per call)", batch), n, time.Since(start))
	// The markers live beside the stream ({stream}:msgid:<id>, the
	// README's layout) until the dedupe window ends: remove them now.
	for done := 0; done < n; done += 1000 {
		keys := make([]string, 0, 1000)
		for i := done; i < min(done+1000, n); i++ {
			keys = append(keys, "{"+stream+"}:msgid:"+entries[i].MsgID)
		}
		if err := c.Do(ctx, c.B().Unlink().Key(keys...).Build()).Error(); err != nil {
			return Result{}, err
		}
	}
	return r, nil
}

// Fill writes a backlog of n entries to stream quickly.
func Fill(ctx context.Context, c rueidis.Client, stream string, n, size int) error {
	if err := reset(ctx, c, stream); err != nil {
		return err
	}
	p, _ := redstream.NewPublisher(c)
	f := fields(Payload(size))
	const batch = 10000
	entries := make([]redstream.Entry, batch)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: f}
	}
	for done := 0; done < n; done += batch {
		if _, err := p.PublishBatch(ctx, entries[:min(batch, n-done)]); err != nil {
			return err
		}
	}
	return nil
}

// Consume measures how fast `consumers` Consumers of one group drain a
// backlog of n entries with a no-op handler, acknowledging each.
func Consume(ctx context.Context, c rueidis.Client, stream string, n, consumers, size int, opts ...redstream.ConsumerOption) (Result, error) {
	if err := Fill(ctx, c, stream, n, size); err != nil {
		return Result{}, err
	}
	return ConsumeBacklog(ctx, c, stream, n, consumers, opts...)
}

// ConsumeBacklog is Consume of the n entries stream holds already, as
// another publisher wrote them (with headers, say).
func ConsumeBacklog(ctx context.Context, c rueidis.Client, stream string, n, consumers int, opts ...redstream.ConsumerOption) (Result, error) {
	noop := redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil })
	elapsed, err := consumeBacklog(ctx, c, stream, n, consumers, -1, func(opts ...redstream.ConsumerOption) (*redstream.Consumer, error) {
		return redstream.NewConsumer(c, stream, "bench", noop, opts...)
	}, opts)
	if err != nil {
		return Result{}, err
	}
	return rate(fmt.Sprintf("consume+ack, %d consumer(s)", consumers), n, elapsed), nil
}

// consumeBacklog fills stream with n entries of size bytes (size < 0:
// it holds them already), makes `consumers` consumers of group "bench"
// with newConsumer, each reading from the start under a name of its own
// (then opts), and returns how long they took to acknowledge all n.
func consumeBacklog(ctx context.Context, c rueidis.Client, stream string, n, consumers, size int,
	newConsumer func(...redstream.ConsumerOption) (*redstream.Consumer, error), opts []redstream.ConsumerOption) (time.Duration, error) {
	if size >= 0 {
		if err := Fill(ctx, c, stream, n, size); err != nil {
			return 0, err
		}
	}
	var cons []*redstream.Consumer
	for i := range consumers {
		o := append([]redstream.ConsumerOption{redstream.StartID("0"), redstream.Name("bench-" + strconv.Itoa(i))}, opts...)
		cn, err := newConsumer(o...)
		if err != nil {
			return 0, err
		}
		cons = append(cons, cn)
	}
	return drain(ctx, cons, n, nil)
}

// Latency publishes at a fixed rate for d and measures publish-to-handler
// latency percentiles (p50, p90, p99) in milliseconds.
func Latency(ctx context.Context, c rueidis.Client, stream string, perSecond int, d time.Duration, size int) ([]Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return nil, err
	}
	rec, stop, err := startSince(ctx, c, stream, "sent")
	if err != nil {
		return nil, err
	}
	defer stop()
	p, _ := redstream.NewPublisher(c)
	payload := Payload(size)
	total := int(float64(perSecond) * d.Seconds())
	interval := time.Second / time.Duration(perSecond)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() { // open loop: a slow publish must not slow the schedule
			defer wg.Done()
			_, _ = p.Publish(ctx, stream, []redstream.Field{{Name: "sent", Value: strconv.FormatInt(time.Now().UnixNano(), 10)}, {Name: "payload", Value: payload}})
		}()
	}
	wg.Wait()
	lat := rec.wait(total, time.Now().Add(10*time.Second))
	if len(lat) == 0 {
		return nil, fmt.Errorf("no entry was handled")
	}
	pct := percentiles(lat)
	name := fmt.Sprintf("latency at %d/s", perSecond)
	return []Result{
		{Name: name + " p50", Value: pct(0.50), Unit: "ms"},
		{Name: name + " p90", Value: pct(0.90), Unit: "ms"},
		{Name: name + " p99", Value: pct(0.99), Unit: "ms"},
	}, nil
}

// Memory consumes a backlog of n entries and reports the peak heap in use
// (sampled) while it does, in MB.
func Memory(ctx context.Context, c rueidis.Client, stream string, n, size int) (Result, error) {
	if err := Fill(ctx, c, stream, n, size); err != nil {
		return Result{}, err
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	r, err := Consume(ctx, c, stream, n, 1, size)
	close(stop)
	<-sampled
	if err != nil {
		return Result{}, err
	}
	return Result{Name: fmt.Sprintf("peak heap consuming a %d-entry backlog", n), Value: float64(peak.Load()) / (1 << 20), Unit: "MB",
		Note: fmt.Sprintf("drained at %.0f msgs/s", r.Value)}, nil
}

// Seed runs the article's scenario: tickets entries, each handled with
// work of simulated time, by `consumers` Consumers with the given
// concurrency each, and reports the elapsed seconds.
func Seed(ctx context.Context, c rueidis.Client, stream string, tickets, consumers, concurrency int, work time.Duration) (Result, error) {
	if err := reset(ctx, c, stream); err != nil {
		return Result{}, err
	}
	if err := c.Do(ctx, c.B().XgroupCreate().Key(stream).Group("tickets-consumer-group").Id("$").Mkstream().Build()).Error(); err != nil {
		return Result{}, err
	}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		select {
		case <-time.After(work):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	var cons []*redstream.Consumer
	for i := range consumers {
		cn, err := redstream.NewConsumer(c, stream, "tickets-consumer-group", h, redstream.Concurrency(concurrency), redstream.Name("seed-"+strconv.Itoa(i)))
		if err != nil {
			return Result{}, err
		}
		cons = append(cons, cn)
	}
	entries := make([]redstream.Entry, tickets)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("whatHappened", "ticket received", "ticketID", strconv.Itoa(i), "ticketData", "some ticket data")}
	}
	p, _ := redstream.NewPublisher(c)
	elapsed, err := drain(ctx, cons, tickets, func() error {
		_, err := p.PublishBatch(ctx, entries)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Name: fmt.Sprintf("seed: %d tickets × %v, %d consumer(s) × concurrency %d", tickets, work, consumers, concurrency), Value: elapsed.Seconds(), Unit: "s"}, nil
}

func rate(name string, n int, d time.Duration) Result {
	return Result{Name: name, Value: float64(n) / d.Seconds(), Unit: "msgs/s"}
}

// drain runs the consumers until together they have acknowledged n
// entries, then stops them. It times from their start, running first
// (if not nil) once they are started, and returns the elapsed time.
func drain(ctx context.Context, cons []*redstream.Consumer, n int, first func() error) (time.Duration, error) {
	runCtx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(cons))
	defer func() {
		cancel()
		for range cons {
			<-errs
		}
	}()
	start := time.Now()
	for _, cn := range cons {
		go func() { errs <- cn.Run(runCtx) }()
	}
	if first != nil {
		if err := first(); err != nil {
			return 0, err
		}
	}
	for {
		total := int64(0)
		for _, cn := range cons {
			total += cn.Stats().Acked
		}
		if total >= int64(n) {
			return time.Since(start), nil
		}
		select {
		case err := <-errs:
			errs <- err // for the deferred wait
			return 0, fmt.Errorf("consumer stopped early: %v", err)
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Topic measures a partitioned topic end to end: events keyed over 1000
// keys are published with PublishTopic while `consumers` TopicConsumers
// of one group handle them (no-op), and the rate is events acknowledged
// per second from the first publish to the last acknowledgement.
func Topic(ctx context.Context, c rueidis.Client, name string, partitions, events, consumers, size int) (Result, error) {
	if err := redstream.DeleteTopic(ctx, c, name); err != nil && !errors.Is(err, redstream.ErrNoTopic) {
		return Result{}, err
	}
	top, err := redstream.CreateTopic(ctx, c, name, partitions)
	if err != nil {
		return Result{}, err
	}
	defer redstream.DeleteTopic(context.WithoutCancel(ctx), c, name)
	noop := redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil })
	var cons []*redstream.TopicConsumer
	for i := range consumers {
		tc, err := redstream.NewTopicConsumer(c, top, "bench", noop, redstream.Name("bench-"+strconv.Itoa(i)), redstream.Lease(2*time.Second))
		if err != nil {
			return Result{}, err
		}
		cons = append(cons, tc)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(cons))
	for _, tc := range cons {
		go func() { errs <- tc.Run(runCtx) }()
	}
	defer func() {
		cancel()
		for range cons {
			<-errs
		}
	}()
	// Let the consumers divide the partitions before timing.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		owned := 0
		for _, tc := range cons {
			owned += len(tc.Owned())
		}
		if owned == partitions {
			break
		}
	}
	p, _ := redstream.NewPublisher(c)
	payload := Payload(size)
	start := time.Now()
	const batch = 1000
	for done := 0; done < events; done += batch {
		evs := make([]redstream.KeyedEntry, 0, batch)
		for i := done; i < min(done+batch, events); i++ {
			evs = append(evs, redstream.KeyedEntry{Key: strconv.Itoa(i % 1000), Fields: []redstream.Field{{Name: "payload", Value: payload}}})
		}
		if _, err := p.PublishTopic(ctx, top, evs...); err != nil {
			return Result{}, err
		}
	}
	for {
		var n int64
		for _, tc := range cons {
			n += tc.Stats().Handled
		}
		if n >= int64(events) {
			break
		}
		select {
		case err := <-errs:
			errs <- err
			return Result{}, fmt.Errorf("topic consumer stopped early: %v", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return rate(fmt.Sprintf("topic, %d partition(s), %d consumer(s), publish+handle", partitions, consumers), events, time.Since(start)), nil
}

// TopicConsume measures a partitioned topic the way Consume measures a
// stream: a backlog of n events keyed over `keys` keys is published with
// PublishTopic first, then `consumers` TopicConsumers of one group (no-op
// handler, default options) drain it. The rate is events acknowledged per
// second from their start, partition leases included, to the last
// acknowledgement; then nothing may be pending on any partition.
func TopicConsume(ctx context.Context, c rueidis.Client, name string, partitions, keys, n, consumers, size int) (Result, error) {
	if err := redstream.DeleteTopic(ctx, c, name); err != nil && !errors.Is(err, redstream.ErrNoTopic) {
		return Result{}, err
	}
	top, err := redstream.CreateTopic(ctx, c, name, partitions)
	if err != nil {
		return Result{}, err
	}
	defer redstream.DeleteTopic(context.WithoutCancel(ctx), c, name)
	p, _ := redstream.NewPublisher(c)
	f := fields(Payload(size))
	const batch = 10000
	evs := make([]redstream.KeyedEntry, 0, batch)
	for done := 0; done < n; done += batch {
		evs = evs[:0]
		for i := done; i < min(done+batch, n); i++ {
			evs = append(evs, redstream.KeyedEntry{Key: strconv.Itoa(i % keys), Fields: f})
		}
		if _, err := p.PublishTopic(ctx, top, evs...); err != nil {
			return Result{}, err
		}
	}
	noop := redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil })
	var cons []*redstream.TopicConsumer
	for i := range consumers {
		tc, err := redstream.NewTopicConsumer(c, top, "bench", noop, redstream.Name("bench-"+strconv.Itoa(i)))
		if err != nil {
			return Result{}, err
		}
		cons = append(cons, tc)
	}
	runCtx, cancel := context.WithCancel(ctx)
	errs := make(chan error, len(cons))
	defer func() {
		cancel()
		for range cons {
			<-errs
		}
	}()
	start := time.Now()
	for _, tc := range cons {
		go func() { errs <- tc.Run(runCtx) }()
	}
	for {
		var handled int64
		for _, tc := range cons {
			handled += tc.Stats().Handled // counted once its XACK returned
		}
		if handled >= int64(n) {
			break
		}
		select {
		case err := <-errs:
			errs <- err
			return Result{}, fmt.Errorf("topic consumer stopped early: %v", err)
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	for _, s := range top.Streams() {
		left, err := PendingCount(ctx, c, s, "bench")
		if err != nil {
			return Result{}, err
		}
		if left != 0 {
			return Result{}, fmt.Errorf("topic %s: %d entries still pending on %s after all were handled", name, left, s)
		}
	}
	return rate(fmt.Sprintf("topic consume, %d partitions, %d keys, %d consumer(s)", partitions, keys, consumers), n, elapsed), nil
}

// PendingCount returns how many entries of stream are pending in group
// (the count of XPENDING's summary form).
func PendingCount(ctx context.Context, c rueidis.Client, stream, group string) (int64, error) {
	summary, err := c.Do(ctx, c.B().Xpending().Key(stream).Group(group).Build()).ToArray()
	if err != nil {
		return 0, err
	}
	if len(summary) == 0 {
		return 0, fmt.Errorf("xpending %s %s: empty reply", stream, group)
	}
	return summary[0].AsInt64()
}

// Delay schedules n entries due evenly over d, starting a second from
// now, with one consumer running, and measures how long after its due
// time each was handled: p50 and p99, in milliseconds.
func Delay(ctx context.Context, c rueidis.Client, stream string, n int, d time.Duration, size int) ([]Result, error) {
	if err := reset(ctx, c, stream, redstream.ScheduledKey(stream)); err != nil {
		return nil, err
	}
	rec, stop, err := startSince(ctx, c, stream, "due")
	if err != nil {
		return nil, err
	}
	defer stop()
	p, _ := redstream.NewPublisher(c)
	payload := Payload(size)
	start := time.Now().Add(time.Second).Truncate(time.Millisecond)
	entries := make([]redstream.ScheduledEntry, n)
	for i := range entries {
		due := start.Add(time.Duration(i) * d / time.Duration(n)).Truncate(time.Millisecond)
		entries[i] = redstream.ScheduledEntry{Stream: stream, At: due, Fields: []redstream.Field{
			{Name: "due", Value: strconv.FormatInt(due.UnixNano(), 10)}, {Name: "payload", Value: payload}}}
	}
	if _, err := p.PublishBatchAt(ctx, entries); err != nil {
		return nil, err
	}
	lat := rec.wait(n, start.Add(d+30*time.Second))
	if len(lat) < n {
		return nil, fmt.Errorf("%d of %d scheduled entries handled", len(lat), n)
	}
	pct := percentiles(lat)
	name := fmt.Sprintf("delay: handled after due, %d entries over %v", n, d)
	return []Result{
		{Name: name + " p50", Value: pct(0.50), Unit: "ms"},
		{Name: name + " p99", Value: pct(0.99), Unit: "ms"},
	}, nil
}

// since records, for each entry a Consumer handles, the time since the
// instant (Unix nanoseconds) in one of its fields.
type since struct {
	mu  sync.Mutex
	lat []time.Duration
}

// startSince runs a Consumer of stream (group "bench", from the start)
// that records the time since each entry's field, and returns once it has
// joined; stop ends it.
func startSince(ctx context.Context, c rueidis.Client, stream, field string) (*since, func(), error) {
	rec := &since{}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		at, err := strconv.ParseInt(m.Value(field), 10, 64)
		if err == nil {
			l := time.Since(time.Unix(0, at))
			rec.mu.Lock()
			rec.lat = append(rec.lat, l)
			rec.mu.Unlock()
		}
		return nil
	})
	cons, err := redstream.NewConsumer(c, stream, "bench", h)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(runCtx) }()
	stop := func() {
		cancel()
		<-done
	}
	select {
	case <-cons.Ready(): // no early entry is missed
	case err := <-done:
		cancel()
		return nil, nil, err
	}
	return rec, stop, nil
}

// wait returns the sorted times recorded once n are, or at deadline.
func (s *since) wait(n int, deadline time.Time) []time.Duration {
	for {
		s.mu.Lock()
		got := len(s.lat)
		s.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	return lat
}

// percentiles returns the p-th percentile of sorted lat, in milliseconds.
func percentiles(lat []time.Duration) func(p float64) float64 {
	return func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
}
