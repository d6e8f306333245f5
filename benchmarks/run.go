package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/bench"
	"github.com/redstream-go/redstream/internal/redisproc"
)

// Systems, as the table names them.
const (
	sysRedstream = "redstream"
	sysWatermill = "watermill"
	sysAsynq     = "asynq"
	sysGoRedis   = "go-redis"
	sysCeiling   = "redis-benchmark"
	sysRaw       = "rueidis" // the raw consume loop, no library around it
)

// Figure is one measured (or computed) number of one system.
type Figure struct {
	Key    string `json:"key"`
	System string `json:"system"`
	bench.Result
	Computed bool `json:"computed,omitempty"`
}

// env is what every measurement shares: the server and a redstream client.
type env struct {
	cfg     Config
	url     string
	private bool
	rs      rueidis.Client
	log     io.Writer
	keys    []string // keys this measurement created, deleted when not private
	queues  []string // asynq queues likewise
	figures []Figure
	skipped []string
}

// run starts the server (unless cfg.RedisURL is set), measures everything
// in a fixed order and returns the report. Progress goes to log.
func run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	began := time.Now()
	e := &env{cfg: cfg, url: cfg.RedisURL, log: log}
	if e.url == "" {
		dir, err := os.MkdirTemp("", "redstream-benchmarks-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		srv, err := redisproc.Start(dir)
		if err != nil {
			return nil, err
		}
		defer srv.Kill()
		e.url, e.private = srv.URL(), true
	}
	c, err := redstream.Dial(ctx, e.url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	e.rs = c

	rep := &Report{
		Payload: cfg.Size, N: cfg.N, LoopN: cfg.LoopN, MemoryN: cfg.MemoryN,
		Quick: cfg.Quick, PrivateServer: e.private,
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Versions: versions(),
	}
	rep.RedisVersion = e.redisVersion(ctx)
	rep.LoadBefore = loadAverage()
	fmt.Fprintf(log, "measuring on redis %s at %s (%s), payload %d bytes, n=%d\n",
		rep.RedisVersion, redactURL(e.url), map[bool]string{true: "private server", false: "given server"}[e.private], cfg.Size, cfg.N)

	steps := []struct {
		name string
		fn   func(context.Context, *env) error
	}{
		{"ceiling: redis-benchmark XADD -P 50 -c 50", ceiling},
		{"redstream: publish", redstreamPublish},
		// Right before the Consumer figures it is the ceiling of, so that
		// the machine's load moves them alike.
		{"ceiling: raw rueidis XREADGROUP+XACK loop", rawConsume},
		{"redstream: consume", redstreamConsume},
		{"redstream: topic consume", redstreamTopicConsume},
		{"redstream: CLI consume --json to a file", cliConsume},
		{"redstream: latency", redstreamLatency},
		{"redstream: memory", redstreamMemory},
		{"redstream: seed scenario", redstreamSeed},
		{"watermill: publish", watermillPublish},
		{"watermill: subscribe", watermillSubscribe},
		{"watermill: latency", watermillLatency},
		{"asynq: enqueue and process", asynqRun},
		{"go-redis: XADD loop and the seed article's consumer", goRedisRun},
	}
	for _, s := range steps {
		t := time.Now()
		fmt.Fprintf(log, "· %s\n", s.name)
		if err := e.clean(ctx); err != nil {
			return nil, err
		}
		if err := s.fn(ctx, e); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if err := e.clean(ctx); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "  done in %.1fs\n", time.Since(t).Seconds())
	}
	rep.Figures, rep.Skipped = e.figures, e.skipped
	rep.Ratios = ratios(e.figures)
	rep.ElapsedSeconds = time.Since(began).Seconds()
	rep.LoadAfter = loadAverage()
	return rep, nil
}

// add records a figure.
func (e *env) add(key, system string, r bench.Result) {
	e.figures = append(e.figures, Figure{Key: key, System: system, Result: r})
	fmt.Fprintf(e.log, "  %-10s %-58s %12s %s\n", system, r.Name, formatValue(r.Value, r.Unit), r.Unit)
}

// stream names a stream for this run and remembers it for cleanup.
func (e *env) stream(name string) string {
	s := "redstream-bench:" + name
	e.keys = append(e.keys, s)
	return s
}

// clean empties the database between measurements: FLUSHDB on the private
// server, and on a given server only the keys this run created.
func (e *env) clean(ctx context.Context) error {
	defer func() { e.keys, e.queues = nil, nil }()
	if e.private {
		return e.rs.Do(ctx, e.rs.B().Flushdb().Build()).Error()
	}
	if len(e.keys) > 0 {
		if err := e.rs.Do(ctx, e.rs.B().Del().Key(e.keys...).Build()).Error(); err != nil {
			return err
		}
	}
	for _, q := range e.queues {
		if err := deleteAsynqQueue(ctx, e.url, q); err != nil {
			return err
		}
	}
	return nil
}

func (e *env) redisVersion(ctx context.Context) string {
	info, err := e.rs.Do(ctx, e.rs.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

// loadAverage returns the 1, 5 and 15 minute load averages (Linux), or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}
