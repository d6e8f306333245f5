package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/redstream-go/redstream/internal/bench"
)

// watermill-redisstream runs with its defaults throughout: the default
// marshaller, a go-redis client with default options (pool of 10
// connections per GOMAXPROCS), and on the subscriber only ConsumerGroup
// set (OldestId defaults to "0", so the group reads the backlog from the
// start). Its Publisher and Subscriber close the client they are given,
// so each gets a client of its own.

func goRedisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opt), nil
}

func newWatermillMessage(payload []byte) *message.Message {
	return message.NewMessage(watermill.NewUUID(), payload)
}

func watermillPublish(ctx context.Context, e *env) error {
	rc, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: rc}, nil)
	if err != nil {
		return err
	}
	defer pub.Close() // closes rc too
	payload := []byte(bench.Payload(e.cfg.Size))

	stream := e.stream("wm-publish-1")
	start := time.Now()
	for range e.cfg.LoopN {
		if err := pub.Publish(stream, newWatermillMessage(payload)); err != nil {
			return err
		}
	}
	e.add("watermill.publish.1", sysWatermill, rate("Publisher, 1 goroutine", e.cfg.LoopN, time.Since(start), "one message per Publish call, new UUID each"))
	if err := e.clean(ctx); err != nil {
		return err
	}

	stream = e.stream("wm-publish-64")
	d, err := parallel(ctx, e.cfg.N, 64, func() error { return pub.Publish(stream, newWatermillMessage(payload)) })
	if err != nil {
		return err
	}
	e.add("watermill.publish.64", sysWatermill, rate("Publisher, 64 goroutines", e.cfg.N, d, "one message per Publish call, go-redis default pool"))
	return nil
}

// fillWatermill writes n entries in watermill's own field layout (its
// default marshaller's output) with pipelined XADDs, so its subscriber
// decodes them as if its publisher had written them.
func fillWatermill(ctx context.Context, rc *redis.Client, stream string, n int, payload []byte) error {
	const batch = 10000
	var m redisstream.DefaultMarshallerUnmarshaller
	for done := 0; done < n; done += batch {
		pipe := rc.Pipeline()
		for range min(batch, n-done) {
			values, err := m.Marshal(stream, newWatermillMessage(payload))
			if err != nil {
				return err
			}
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func watermillSubscribe(ctx context.Context, e *env) error {
	stream, group := e.stream("wm-subscribe"), "bench"
	n := e.cfg.N
	rc, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	if err := fillWatermill(ctx, rc, stream, n, []byte(bench.Payload(e.cfg.Size))); err != nil {
		rc.Close()
		return err
	}
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{Client: rc, ConsumerGroup: group}, nil)
	if err != nil {
		rc.Close()
		return err
	}
	defer sub.Close() // closes rc too
	check, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	defer check.Close()

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var acked atomic.Int64
	start := time.Now()
	msgs, err := sub.Subscribe(subCtx, stream)
	if err != nil {
		return err
	}
	go func() {
		for m := range msgs { // the no-op handler
			m.Ack()
			acked.Add(1)
		}
	}()
	// Done when every message was acked by the handler and its XACK has
	// reached Redis (nothing pending in the group).
	for {
		if acked.Load() >= int64(n) {
			p, err := check.XPending(ctx, stream, group).Result()
			if err != nil {
				return err
			}
			if p.Count == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	e.add("watermill.subscribe.1", sysWatermill, rate("Subscriber (consumer group), no-op handler, Ack", n, time.Since(start),
		fmt.Sprintf("backlog %d, raw message channel, defaults", n)))
	return nil
}

func watermillLatency(ctx context.Context, e *env) error {
	const perSecond = 2000
	stream := e.stream("wm-latency")
	subClient, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	sub, err := redisstream.NewSubscriber(redisstream.SubscriberConfig{Client: subClient, ConsumerGroup: "bench"}, nil)
	if err != nil {
		subClient.Close()
		return err
	}
	defer sub.Close()
	pubClient, err := goRedisClient(e.url)
	if err != nil {
		return err
	}
	pub, err := redisstream.NewPublisher(redisstream.PublisherConfig{Client: pubClient}, nil)
	if err != nil {
		pubClient.Close()
		return err
	}
	defer pub.Close()

	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := sub.Subscribe(subCtx, stream) // creates the group before it returns
	if err != nil {
		return err
	}
	var (
		mu      sync.Mutex
		lat     []time.Duration
		handled atomic.Int64
	)
	go func() {
		for m := range msgs {
			if sent, err := strconv.ParseInt(m.Metadata.Get("sent"), 10, 64); err == nil {
				l := time.Since(time.Unix(0, sent))
				mu.Lock()
				lat = append(lat, l)
				mu.Unlock()
			}
			m.Ack()
			handled.Add(1)
		}
	}()

	// The same open-loop schedule as bench.Latency: one publish per
	// interval, each in its own goroutine, the send time in the message.
	payload := []byte(bench.Payload(e.cfg.Size))
	total := int(float64(perSecond) * e.cfg.LatencyFor.Seconds())
	interval := time.Second / time.Duration(perSecond)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range total {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := newWatermillMessage(payload)
			m.Metadata.Set("sent", strconv.FormatInt(time.Now().UnixNano(), 10))
			_ = pub.Publish(stream, m)
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for handled.Load() < int64(total) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		return fmt.Errorf("no message was handled")
	}
	for i, r := range percentiles(fmt.Sprintf("latency at %d/s", perSecond), lat) {
		r.Note = fmt.Sprintf("open loop, %v, send time in metadata", e.cfg.LatencyFor)
		e.add(fmt.Sprintf("watermill.latency.%d.%s", perSecond, []string{"p50", "p90", "p99"}[i]), sysWatermill, r)
	}
	if len(lat) < total {
		e.skipped = append(e.skipped, fmt.Sprintf("watermill latency: only %d of %d messages arrived within 10s of the last publish", len(lat), total))
	}
	return nil
}
