package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/redis/rueidis"
	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream/internal/bench"
	"github.com/redstream-go/redstream/internal/redisproc"
)

// benchCmd measures redstream on a Redis server. The comparison with
// other libraries lives in benchmarks/ (make bench).
func (a *app) benchCmd() *cobra.Command {
	var (
		quick   bool
		asJSON  bool
		size    int
		cluster bool
	)
	cmd := &cobra.Command{
		Use:   "bench [--quick] [--json] [--size BYTES]",
		Short: "Measure publish and consume throughput, latency and memory",
		Long: `bench measures redstream on --redis, or, when no URL is given, on a private
redis-server it starts on a free port (redis-server must be installed): publish
throughput from 1 and 64 goroutines and with PublishBatch, consume+ack
throughput with 1 and 4 consumers, publish-to-handler latency at 2,000 and
20,000 events a second, the consumer's peak heap draining a large backlog,
and the seed article's tickets scenario with the demo's defaults.

It deletes the keys it uses (bench:*). For redstream measured side by side
with other libraries on the same server, run make bench.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if size < 1 || size > 1<<20 {
				return usagef("--size must be between 1 and 1048576 bytes, got %d", size)
			}
			url, given, err := a.redis(cmd)
			if err != nil {
				return err
			}
			if !given {
				dir, err := os.MkdirTemp("", "redstream-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				srv, err := redisproc.Start(dir)
				if err != nil {
					return fmt.Errorf("start a private redis-server (or pass --redis URL): %w", err)
				}
				defer srv.Kill()
				url = srv.URL()
				fmt.Fprintf(a.stderr, "measuring on a private redis-server at %s\n", srv.Addr())
			}
			client, err := dial(cmd.Context(), url, false)
			if err != nil {
				return err
			}
			defer client.Close()
			scale := 1
			if !quick {
				scale = 10
			}
			show := func(r bench.Result) {
				if !asJSON {
					fmt.Fprintf(a.stderr, "  %s: %s\n", r.Name, format(r))
				}
			}
			results, err := runBench(cmd.Context(), client, scale, size, show)
			if err != nil {
				return describe(err, "bench")
			}
			topics, err := runTopicBench(cmd.Context(), client, "one server", scale, size, show)
			if err != nil {
				return describe(err, "bench")
			}
			results = append(results, topics...)
			if cluster {
				dir, err := os.MkdirTemp("", "redstream-bench-cluster-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				cl, err := redisproc.StartCluster(dir, 3, 0)
				if err != nil {
					return fmt.Errorf("start a private 3-master cluster: %w", err)
				}
				defer cl.Kill()
				cc, err := dial(cmd.Context(), cl.URL(), false)
				if err != nil {
					return err
				}
				defer cc.Close()
				topics, err := runTopicBench(cmd.Context(), cc, "3-master cluster", scale, size, show)
				if err != nil {
					return describe(err, "bench")
				}
				results = append(results, topics...)
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"machine": machine(), "payload_bytes": size, "results": results})
			}
			return writeBenchTable(a.stdout, size, results)
		}),
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "smaller counts: a run of seconds, for a smoke test")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as JSON")
	cmd.Flags().IntVar(&size, "size", 100, "payload size in bytes")
	cmd.Flags().BoolVar(&cluster, "cluster", true, "also measure topics on a private 3-master Redis Cluster (needs redis-server and redis-cli)")
	return cmd
}

// runBench runs every measurement; scale 1 is the quick run.
func runBench(ctx context.Context, c rueidis.Client, scale, size int, each func(bench.Result)) ([]bench.Result, error) {
	var out []bench.Result
	add := func(rs ...bench.Result) {
		for _, r := range rs {
			out = append(out, r)
			each(r)
		}
	}
	steps := []func() ([]bench.Result, error){
		one(func() (bench.Result, error) { return bench.PublishLoop(ctx, c, "bench:pub1", 2000*scale, size) }),
		one(func() (bench.Result, error) {
			return bench.PublishConcurrent(ctx, c, "bench:pub64", 20000*scale, 64, size)
		}),
		one(func() (bench.Result, error) {
			return bench.PublishBatch(ctx, c, "bench:batch", 50000*scale, 1000, size)
		}),
		one(func() (bench.Result, error) { return bench.Consume(ctx, c, "bench:consume1", 50000*scale, 1, size) }),
		one(func() (bench.Result, error) { return bench.Consume(ctx, c, "bench:consume4", 50000*scale, 4, size) }),
		func() ([]bench.Result, error) {
			return bench.Latency(ctx, c, "bench:lat2k", 2000, time.Duration(scale)*500*time.Millisecond, size)
		},
		func() ([]bench.Result, error) {
			return bench.Latency(ctx, c, "bench:lat20k", 20000, time.Duration(scale)*250*time.Millisecond, size)
		},
		one(func() (bench.Result, error) { return bench.Memory(ctx, c, "bench:memory", 100000*scale, size) }),
		one(func() (bench.Result, error) {
			return bench.Seed(ctx, c, "bench:tickets", 3000, 5, 64, 100*time.Millisecond)
		}),
	}
	defer bench.Cleanup(context.WithoutCancel(ctx), c, "bench:pub1", "bench:pub64", "bench:batch", "bench:consume1",
		"bench:consume4", "bench:lat2k", "bench:lat20k", "bench:memory", "bench:tickets")
	for _, step := range steps {
		rs, err := step()
		if err != nil {
			return out, err
		}
		add(rs...)
	}
	return out, nil
}

// runTopicBench measures topic throughput with 1 and 12 partitions (one
// consumer per 4 partitions, at least 1) and reports the ratio.
func runTopicBench(ctx context.Context, c rueidis.Client, where string, scale, size int, each func(bench.Result)) ([]bench.Result, error) {
	var out []bench.Result
	for _, p := range []int{1, 12} {
		r, err := bench.Topic(ctx, c, "bench-topic-"+strconv.Itoa(p), p, 20000*scale, max(1, p/4), size)
		if err != nil {
			return nil, err
		}
		r.Name += ", " + where
		out = append(out, r)
		each(r)
	}
	ratio := bench.Result{Name: "topic 12 / 1 partitions, " + where, Value: out[1].Value / out[0].Value, Unit: "x"}
	each(ratio)
	return append(out, ratio), nil
}

func one(f func() (bench.Result, error)) func() ([]bench.Result, error) {
	return func() ([]bench.Result, error) {
		r, err := f()
		if err != nil {
			return nil, err
		}
		return []bench.Result{r}, nil
	}
}

func format(r bench.Result) string {
	switch r.Unit {
	case "msgs/s":
		return fmt.Sprintf("%.0f %s", r.Value, r.Unit)
	default:
		return fmt.Sprintf("%.2f %s", r.Value, r.Unit)
	}
}

func machine() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", host, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func writeBenchTable(w io.Writer, size int, results []bench.Result) error {
	fmt.Fprintf(w, "redstream bench: %s, %d-byte payloads\n\n", machine(), size)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\t     VALUE\tUNIT")
	for _, r := range results {
		v := fmt.Sprintf("%10.0f", r.Value)
		if r.Unit != "msgs/s" {
			v = fmt.Sprintf("%10.2f", r.Value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, v, r.Unit)
	}
	return tw.Flush()
}
