package redstream_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// The benchmarks report msgs/s; compare runs with benchstat. The
// comparison against other libraries lives in benchmarks/.

func benchClient(b *testing.B) (*redstreamtest.Server, rueidis.Client) {
	b.Helper()
	srv := redstreamtest.StartRedis(b)
	c, err := redstream.Dial(context.Background(), srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return srv, c
}

func msgsPerSec(b *testing.B, n int) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
}

var payload = redstream.Fields("payload", string(make([]byte, 100)))

func BenchmarkPublish(b *testing.B) {
	_, c := benchClient(b)
	p, _ := redstream.NewPublisher(c)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Publish(ctx, "bench", payload); err != nil {
			b.Fatal(err)
		}
	}
	msgsPerSec(b, b.N)
}

func BenchmarkPublishParallel(b *testing.B) {
	_, c := benchClient(b)
	p, _ := redstream.NewPublisher(c)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Publish(ctx, "bench", payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	msgsPerSec(b, b.N)
}

func BenchmarkPublishBatch(b *testing.B) {
	_, c := benchClient(b)
	p, _ := redstream.NewPublisher(c)
	ctx := context.Background()
	const batch = 1000
	entries := make([]redstream.Entry, batch)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "bench", Fields: payload}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PublishBatch(ctx, entries); err != nil {
			b.Fatal(err)
		}
	}
	msgsPerSec(b, b.N*batch)
}

// BenchmarkPublishConcurrent compares Publish called from 64 goroutines at
// once, as a service's request handlers call it, with PublishBatch of 1000
// entries from one goroutine, on one server in one run: the ratio of their
// msgs/s says how close concurrent single publishes come to batching.
func BenchmarkPublishConcurrent(b *testing.B) {
	_, c := benchClient(b)
	p, _ := redstream.NewPublisher(c)
	ctx := context.Background()
	reset := func(b *testing.B) { // keep the server's memory to one run's entries
		b.Helper()
		if err := c.Do(ctx, c.B().Del().Key("bench").Build()).Error(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Publish/goroutines=64", func(b *testing.B) {
		reset(b)
		b.ReportAllocs()
		b.ResetTimer()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					if _, err := p.Publish(ctx, "bench", payload); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		msgsPerSec(b, b.N)
	})
	b.Run("PublishBatch/size=1000", func(b *testing.B) {
		reset(b)
		entries := make([]redstream.Entry, 1000)
		for i := range entries {
			entries[i] = redstream.Entry{Stream: "bench", Fields: payload}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for done := 0; done < b.N; done += len(entries) {
			if _, err := p.PublishBatch(ctx, entries[:min(len(entries), b.N-done)]); err != nil {
				b.Fatal(err)
			}
		}
		msgsPerSec(b, b.N)
	})
}

// BenchmarkConsume drains a backlog of b.N entries with a no-op handler,
// acknowledging each.
func BenchmarkConsume(b *testing.B) {
	_, c := benchClient(b)
	p, _ := redstream.NewPublisher(c)
	ctx := context.Background()
	n := max(b.N, 1000)
	entries := make([]redstream.Entry, 1000)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "bench", Fields: payload}
	}
	for done := 0; done < n; done += len(entries) {
		if _, err := p.PublishBatch(ctx, entries[:min(len(entries), n-done)]); err != nil {
			b.Fatal(err)
		}
	}
	cons, err := redstream.NewConsumer(c, "bench", "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }), redstream.StartID("0"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan error, 1)
	go func() { done <- cons.Run(ctx) }()
	for cons.Stats().Acked < int64(n) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	msgsPerSec(b, n)
	if err := cons.Shutdown(ctx); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDecodeJSON measures the typed layer on a small struct.
func BenchmarkDecodeJSON(b *testing.B) {
	type ticket struct {
		ID   int    `json:"id"`
		Data string `json:"data"`
	}
	fields, _ := redstream.EncodeJSON(ticket{ID: 42, Data: "some ticket data"})
	m := &redstream.Message{ID: "1-0", Fields: fields}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := redstream.DecodeJSON[ticket](m); err != nil {
			b.Fatal(err)
		}
	}
	msgsPerSec(b, b.N)
}

// BenchmarkMessageGet measures reading fields the way handlers do.
func BenchmarkMessageGet(b *testing.B) {
	m := &redstream.Message{ID: "1-0", Fields: redstream.Fields("whatHappened", "ticket received", "ticketID", "98498081", "ticketData", "some ticket data")}
	b.ReportAllocs()
	for b.Loop() {
		if m.Value("ticketData") == "" {
			b.Fatal("missing")
		}
	}
	msgsPerSec(b, b.N)
}
