package main

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/redstream-go/redstream/internal/bench"
)

// asynq keeps tasks in lists and hashes, not streams; it is measured
// because it is the Redis task queue Go users most often pick. Defaults
// throughout (client and server go-redis pools, retries, timeouts), except
// the server's Concurrency, which defaults to the number of CPUs (2 here):
// for a no-op handler bound by round trips that is pathological, so the
// figure uses 64, as many handlers as a redstream Consumer runs by default.
// LogLevel is Warn so its start and stop messages stay out of the table.
const asynqConcurrency = 64

func asynqQueue(e *env) string {
	q := "redstream-bench"
	e.queues = append(e.queues, q)
	return q
}

func asynqRun(ctx context.Context, e *env) error {
	opt, err := asynq.ParseRedisURI(e.url)
	if err != nil {
		return err
	}
	q := asynqQueue(e)
	n := e.cfg.N
	client := asynq.NewClient(opt)
	defer client.Close()
	payload := []byte(bench.Payload(e.cfg.Size))
	d, err := parallel(ctx, n, 64, func() error {
		_, err := client.EnqueueContext(ctx, asynq.NewTask("bench", payload), asynq.Queue(q))
		return err
	})
	if err != nil {
		return err
	}
	e.add("asynq.enqueue.64", sysAsynq, rate("Enqueue, 64 goroutines", n, d, "one task per call, default options"))

	// Process the backlog just enqueued.
	var handled atomic.Int64
	srv := asynq.NewServer(opt, asynq.Config{
		Concurrency: asynqConcurrency,
		Queues:      map[string]int{q: 1},
		LogLevel:    asynq.WarnLevel,
	})
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	start := time.Now()
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		handled.Add(1)
		return nil
	})); err != nil {
		return err
	}
	defer srv.Shutdown()
	// Done when every task was handled and asynq has marked it done
	// (nothing pending or active left in the queue).
	for {
		if handled.Load() >= int64(n) {
			info, err := insp.GetQueueInfo(q)
			if err != nil {
				return err
			}
			if info.Pending == 0 && info.Active == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	e.add("asynq.process", sysAsynq, rate(fmt.Sprintf("process, server concurrency %d, no-op handler", asynqConcurrency), n, time.Since(start),
		fmt.Sprintf("backlog %d; default concurrency would be %d", n, runtime.NumCPU())))
	return nil
}

// deleteAsynqQueue removes queue q and its tasks from a server that is not
// ours to flush.
func deleteAsynqQueue(ctx context.Context, url, q string) error {
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return err
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	if err := insp.DeleteQueue(q, true); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("delete asynq queue %s: %w", q, err)
	}
	return ctx.Err()
}
