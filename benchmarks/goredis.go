package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redstream-go/redstream/internal/bench"
)

// goRedisRun measures plain go-redis with no library around it: an XADD
// loop from one goroutine, one round trip per entry, and the seed
// article's consumer design: one consumer, XREADGROUP COUNT 2, then one
// XACK per message, draining a backlog.
func goRedisRun(ctx context.Context, e *env) error {
	rc, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	defer rc.Close()
	payload := bench.Payload(e.cfg.Size)

	stream := e.stream("gr-xadd-1")
	start := time.Now()
	for range e.cfg.LoopN {
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"payload", payload}}).Err(); err != nil {
			return err
		}
	}
	e.add("goredis.xadd.1", sysGoRedis, rate("XADD loop, 1 goroutine", e.cfg.LoopN, time.Since(start), "one XADD per round trip"))
	if err := e.clean(ctx); err != nil {
		return err
	}

	stream, group, n := e.stream("gr-seed-consumer"), "bench", e.cfg.N
	if err := bench.Fill(ctx, e.rs, stream, n, e.cfg.Size); err != nil {
		return err
	}
	if err := rc.XGroupCreate(ctx, stream, group, "0").Err(); err != nil {
		return err
	}
	acked := 0
	start = time.Now()
	for acked < n {
		res, err := rc.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: group, Consumer: "consumer-1", Streams: []string{stream, ">"}, Count: 2, Block: time.Second,
		}).Result()
		if err != nil && err != redis.Nil {
			return err
		}
		for _, s := range res {
			for _, m := range s.Messages {
				_ = m.Values["payload"] // the no-op handler
				if err := rc.XAck(ctx, stream, group, m.ID).Err(); err != nil {
					return err
				}
				acked++
			}
		}
		if err == redis.Nil {
			return fmt.Errorf("seed consumer: stream ran dry after %d of %d entries", acked, n)
		}
	}
	e.add("goredis.seedconsumer.1", sysGoRedis, rate("seed article's consumer: XREADGROUP COUNT 2, one XACK each", n, time.Since(start),
		fmt.Sprintf("backlog %d, 1 consumer", n)))
	return nil
}
