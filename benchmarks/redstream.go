package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/bench"
)

// The redstream figures all come from internal/bench, the same code the
// CLI's bench command runs.

func redstreamPublish(ctx context.Context, e *env) error {
	r, err := bench.PublishLoop(ctx, e.rs, e.stream("rs-publish-1"), e.cfg.LoopN, e.cfg.Size)
	if err != nil {
		return err
	}
	e.add("redstream.publish.1", sysRedstream, r)
	if err := e.clean(ctx); err != nil {
		return err
	}
	if r, err = bench.PublishConcurrent(ctx, e.rs, e.stream("rs-publish-64"), e.cfg.N, 64, e.cfg.Size); err != nil {
		return err
	}
	e.add("redstream.publish.64", sysRedstream, r)
	if err := e.clean(ctx); err != nil {
		return err
	}
	if r, err = bench.PublishBatch(ctx, e.rs, e.stream("rs-publish-batch"), e.cfg.N, 1000, e.cfg.Size); err != nil {
		return err
	}
	e.add("redstream.publish.batch", sysRedstream, r)
	return nil
}

// redstreamPublishOnce measures PublishBatch with a MsgID on every entry,
// the cost of idempotent publish next to redstream.publish.batch.
func redstreamPublishOnce(ctx context.Context, e *env) error {
	r, err := bench.PublishBatchOnce(ctx, e.rs, e.stream("rs-publish-batch-msgid"), e.cfg.N, 1000, e.cfg.Size)
	if err != nil {
		return err
	}
	e.add("redstream.publish.batch.msgid", sysRedstream, r)
	return e.clean(ctx)
}

// redstreamConsume drains the same backlog shape with one Consumer, one
// batch Consumer and four Consumers.
func redstreamConsume(ctx context.Context, e *env) error {
	type figure struct {
		key, stream string
		consumers   int
		fn          func(context.Context, rueidis.Client, string, int, int, int, ...redstream.ConsumerOption) (bench.Result, error)
	}
	figs := []figure{{"redstream.consume.1", "rs-consume-1", 1, bench.Consume}}
	figs = append(figs, figure{"redstream.consumebatch.1", "rs-consumebatch-1", 1, bench.ConsumeBatch})
	figs = append(figs, figure{"redstream.consume.4", "rs-consume-4", 4, bench.Consume})
	for _, f := range figs {
		r, err := f.fn(ctx, e.rs, e.stream(f.stream), e.cfg.N, f.consumers, e.cfg.Size)
		if err != nil {
			return err
		}
		r.Note = fmt.Sprintf("backlog %d, default options (concurrency %d per consumer), no-op handler", e.cfg.N, redstream.DefaultConcurrency)
		e.add(f.key, sysRedstream, r)
		if err := e.clean(ctx); err != nil {
			return err
		}
	}
	return nil
}

func redstreamLatency(ctx context.Context, e *env) error {
	for _, rate := range []int{2000, 20000} {
		rs, err := bench.Latency(ctx, e.rs, e.stream(fmt.Sprintf("rs-latency-%d", rate)), rate, e.cfg.LatencyFor, e.cfg.Size)
		if err != nil {
			return err
		}
		for i, p := range []string{"p50", "p90", "p99"} {
			rs[i].Note = fmt.Sprintf("open loop, %v", e.cfg.LatencyFor)
			e.add(fmt.Sprintf("redstream.latency.%d.%s", rate, p), sysRedstream, rs[i])
		}
		if err := e.clean(ctx); err != nil {
			return err
		}
	}
	return nil
}

// redstreamDelay measures how soon after their due time scheduled
// entries (PublishAt) are handled: 3,000 due over 3 s, one consumer.
func redstreamDelay(ctx context.Context, e *env) error {
	s := e.stream("rs-delay")
	e.keys = append(e.keys, redstream.ScheduledKey(s), "{"+s+"}:scheduled-fields:"+s)
	rs, err := bench.Delay(ctx, e.rs, s, 3000, 3*time.Second, e.cfg.Size)
	if err != nil {
		return err
	}
	for i, p := range []string{"p50", "p99"} {
		rs[i].Note = "3000 entries due over 3s, one Consumer, defaults"
		e.add("redstream.delay."+p, sysRedstream, rs[i])
	}
	return nil
}

// redstreamMemory consumes the memory backlog in a child process of its
// own, so its peak RSS is the consumer's and nothing else's.
func redstreamMemory(ctx context.Context, e *env) error {
	m, err := runMemoryChild(ctx, e.url, e.stream("rs-memory"), e.cfg.MemoryN, e.cfg.Size)
	if err != nil {
		return err
	}
	e.add("redstream.memory.heap", sysRedstream, m.Heap)
	if m.RSS.Value > 0 {
		e.add("redstream.memory.rss", sysRedstream, m.RSS)
	} else {
		e.skipped = append(e.skipped, "peak RSS: "+m.RSS.Note)
	}
	return nil
}

func redstreamSeed(ctx context.Context, e *env) error {
	const consumers = 5 // as the demo runs it
	r, err := bench.Seed(ctx, e.rs, e.stream("rs-seed"), e.cfg.Tickets, consumers, redstream.DefaultConcurrency, e.cfg.Work)
	if err != nil {
		return err
	}
	r.Note = "measured; redstream defaults, as the demo runs it"
	e.add("redstream.seed.defaults", sysRedstream, r)
	// The seed article's design handles one ticket at a time: it cannot
	// finish in less than tickets × work, so that is computed, not run.
	computed := bench.Result{
		Name:  fmt.Sprintf("seed: %d tickets × %v, 1 consumer, one at a time (COUNT 2 design)", e.cfg.Tickets, e.cfg.Work),
		Value: (time.Duration(e.cfg.Tickets) * e.cfg.Work).Seconds(),
		Unit:  "s",
		Note:  "computed as tickets × work, not run",
	}
	e.add("seed.article.computed", sysGoRedis, computed)
	e.figures[len(e.figures)-1].Computed = true
	return nil
}

// redstreamTopicConsume drains a topic backlog of the Consumer figures'
// size and payload: 12 partitions, 100 keys, one TopicConsumer, so that
// it compares with one plain Consumer measured the same way.
func redstreamTopicConsume(ctx context.Context, e *env) error {
	const partitions, keys, consumers = 12, 100, 1
	// bench.TopicConsume deletes the topic, all its keys, when it is done.
	r, err := bench.TopicConsume(ctx, e.rs, "redstream-bench-topic", partitions, keys, e.cfg.N, consumers, e.cfg.Size)
	if err != nil {
		return err
	}
	r.Note = fmt.Sprintf("backlog %d pre-filled with PublishTopic, default options, no-op handler", e.cfg.N)
	e.add("redstream.topic.consume.12", sysRedstream, r)
	return nil
}
