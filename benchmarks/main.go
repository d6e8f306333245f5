// Command benchmarks measures redstream and its peers — watermill-redisstream,
// asynq, a plain go-redis loop and redis-benchmark's XADD ceiling — on the
// same private redis-server in the same run, with the same payload size,
// and prints each figure, then redstream's ratios against the peers with
// the targets marked met or not met.
//
//	go run . [--redis URL] [--quick] [--json] [--size 100] [--n 500000]
//
// See README.md for the method and the peers' configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"
)

func main() {
	if isChild() {
		os.Exit(childMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := mainErr(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "benchmarks:", err)
		os.Exit(1)
	}
}

func mainErr(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	rep, err := run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return rep.writeJSON(stdout)
	}
	rep.writeText(stdout)
	return nil
}

// Config says what to measure and where.
type Config struct {
	RedisURL string // empty: start a private redis-server
	Quick    bool
	JSON     bool
	Size     int // payload bytes, the same for every system

	N          int            // messages per throughput figure (backlogs, concurrent publishes)
	LoopN      int            // messages per single-goroutine publish loop
	MemoryN    int            // backlog consumed by the memory figure
	CeilingN   int            // redis-benchmark requests
	LatencyFor time.Duration  // how long each latency rate is held
	Tickets    int            // seed scenario
	Work       time.Duration  // seed scenario, per ticket
	Rounds     int            // throughput figures: best of this many runs
	Only       *regexp.Regexp // run only the steps whose name matches; nil: all
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("benchmarks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg Config
	fs.StringVar(&cfg.RedisURL, "redis", "", "measure on this Redis server (redis://host:port[/db]) instead of a private redis-server; nothing is flushed then, only this run's keys are deleted")
	fs.BoolVar(&cfg.Quick, "quick", false, "shrink every count so the whole run takes well under a minute (CI smoke test)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the figures and ratios as JSON")
	fs.IntVar(&cfg.Size, "size", 100, "payload bytes per message, for every system")
	fs.IntVar(&cfg.N, "n", 0, "messages per throughput figure: consume backlogs and concurrent publishes (default 500000, --quick 50000)")
	fs.IntVar(&cfg.LoopN, "loop-n", 0, "messages per single-goroutine publish loop (default n/5)")
	fs.IntVar(&cfg.MemoryN, "memory-n", 0, "backlog for the memory figure (default 1000000, --quick 100000)")
	only := fs.String("only", "", "run only the steps whose name matches this regular expression (e.g. 'consume|subscribe'); the ratios then cover what was measured")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "runs of each throughput figure, keeping the best; the ratios' two sides take their rounds in turn (default 3, --quick 1)")
	fs.DurationVar(&cfg.LatencyFor, "latency-for", 0, "how long each latency rate is held (default 10s, --quick 2s)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run . [--redis URL] [--quick] [--json] [--size 100] [--n 500000]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.defaults()
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return cfg, fmt.Errorf("--only: %w", err)
		}
		cfg.Only = re
	}
	switch {
	case cfg.Size < 1:
		return cfg, fmt.Errorf("--size must be at least 1, got %d", cfg.Size)
	case cfg.N < 1 || cfg.LoopN < 1 || cfg.MemoryN < 1:
		return cfg, errors.New("--n, --loop-n and --memory-n must be at least 1")
	case cfg.Rounds < 1 || cfg.Rounds > 20:
		return cfg, fmt.Errorf("--rounds must be 1 to 20, got %d", cfg.Rounds)
	case cfg.LatencyFor < 100*time.Millisecond:
		return cfg, fmt.Errorf("--latency-for must be at least 100ms, got %v", cfg.LatencyFor)
	}
	return cfg, nil
}

// defaults fills the zero fields for a full or a quick run.
func (c *Config) defaults() {
	full, quick := Config{N: 500_000, MemoryN: 1_000_000, CeilingN: 1_000_000, LatencyFor: 10 * time.Second},
		Config{N: 50_000, MemoryN: 100_000, CeilingN: 100_000, LatencyFor: 2 * time.Second}
	d := full
	if c.Quick {
		d = quick
	}
	if c.N == 0 {
		c.N = d.N
	}
	if c.LoopN == 0 {
		c.LoopN = max(1, c.N/5)
	}
	if c.MemoryN == 0 {
		c.MemoryN = d.MemoryN
	}
	if c.CeilingN == 0 {
		c.CeilingN = d.CeilingN
	}
	if c.LatencyFor == 0 {
		c.LatencyFor = d.LatencyFor
	}
	if c.Rounds == 0 {
		c.Rounds = 3
		if c.Quick {
			c.Rounds = 1
		}
	}
	if c.Tickets == 0 {
		c.Tickets = 3000
	}
	if c.Work == 0 {
		c.Work = 100 * time.Millisecond
	}
}
