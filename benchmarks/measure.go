package main

import (
	"context"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redstream-go/redstream/internal/bench"
)

// rate turns n messages in d into a msgs/s result.
func rate(name string, n int, d time.Duration, note string) bench.Result {
	return bench.Result{Name: name, Value: float64(n) / d.Seconds(), Unit: "msgs/s", Note: note}
}

// parallel calls fn n times spread over g goroutines, the way
// bench.PublishConcurrent spreads redstream's Publish calls, and returns
// the elapsed time or the first error.
func parallel(ctx context.Context, n, g int, fn func() error) (time.Duration, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				if err := fn(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return time.Since(start), ctx.Err()
}

// percentiles returns p50, p90 and p99 of lat in milliseconds, picked the
// way bench.Latency picks them. It sorts lat.
func percentiles(name string, lat []time.Duration) []bench.Result {
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	return []bench.Result{
		{Name: name + " p50", Value: pct(0.50), Unit: "ms"},
		{Name: name + " p90", Value: pct(0.90), Unit: "ms"},
		{Name: name + " p99", Value: pct(0.99), Unit: "ms"},
	}
}

// versions lists the modules measured, as built into this binary.
func versions() map[string]string {
	want := map[string]string{
		"github.com/redis/rueidis":                       "rueidis",
		"github.com/ThreeDotsLabs/watermill":             "watermill",
		"github.com/ThreeDotsLabs/watermill-redisstream": "watermill-redisstream",
		"github.com/hibiken/asynq":                       "asynq",
		"github.com/redis/go-redis/v9":                   "go-redis",
	}
	out := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if name, ok := want[d.Path]; ok {
				out[name] = d.Version
			}
		}
	}
	return out
}
