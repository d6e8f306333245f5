package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"slices"
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

	runs []float64 // every value measured, in rounds
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

	// Steps of a group run cfg.Rounds times and keep each figure's best
	// value; the steps of one group take their rounds in turn, so that a
	// figure and the ceiling it is compared with see the same moments of
	// a noisy machine.
	steps := []step{
		{"ceiling: redis-benchmark XADD -P 50 -c 50", ceiling, "publish"},
		{"redstream: publish", redstreamPublish, "publish"},
		{"redstream: publish with message IDs", redstreamPublishOnce, "publish"},
		{"watermill: publish", watermillPublish, "publish"},
		// Right before the Consumer figures it is the ceiling of, so that
		// the machine's load moves them alike.
		{"ceiling: raw rueidis XREADGROUP+XACK loop", rawConsume, "consume"},
		{"redstream: consume", redstreamConsume, "consume"},
		{"redstream: topic consume", redstreamTopicConsume, "consume"},
		{"redstream: CLI consume --json to a file", cliConsume, "consume"},
		{"watermill: subscribe", watermillSubscribe, "consume"},
		{"redstream: tracing off, unsampled, sampled", redstreamTracing, "tracing"},
		{"asynq: enqueue and process", asynqRun, "peers"},
		{"go-redis: XADD loop and the seed article's consumer", goRedisRun, "peers"},
		{"redstream: latency", redstreamLatency, ""},
		{"watermill: latency", watermillLatency, ""},
		{"redstream: delay precision", redstreamDelay, ""},
		{"redstream: memory", redstreamMemory, ""},
		{"redstream: seed scenario", redstreamSeed, ""},
	}
	if cfg.Only != nil {
		steps = slices.DeleteFunc(steps, func(s step) bool { return !cfg.Only.MatchString(s.name) })
	}
	for i := 0; i < len(steps); {
		j, rounds := i+1, 1
		if steps[i].group != "" {
			for j < len(steps) && steps[j].group == steps[i].group {
				j++
			}
			rounds = cfg.Rounds
		}
		for r := range rounds {
			for _, s := range steps[i:j] {
				if err := e.runStep(ctx, s, r, rounds); err != nil {
					return nil, err
				}
			}
		}
		i = j
	}
	rep.Figures, rep.Skipped = e.figures, e.skipped
	rep.Ratios = ratios(e.figures)
	rep.ElapsedSeconds = time.Since(began).Seconds()
	rep.LoadAfter = loadAverage()
	return rep, nil
}

type step struct {
	name string
	fn   func(context.Context, *env) error
	// group: steps run cfg.Rounds times in turn, keeping the best of
	// each figure (throughput figures); "" runs once.
	group string
}

func (e *env) runStep(ctx context.Context, s step, round, rounds int) error {
	t := time.Now()
	if rounds > 1 {
		fmt.Fprintf(e.log, "· %s (round %d of %d)\n", s.name, round+1, rounds)
	} else {
		fmt.Fprintf(e.log, "· %s\n", s.name)
	}
	if err := e.clean(ctx); err != nil {
		return err
	}
	if err := s.fn(ctx, e); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	if err := e.clean(ctx); err != nil {
		return err
	}
	fmt.Fprintf(e.log, "  done in %.1fs\n", time.Since(t).Seconds())
	return nil
}

// add records a figure. A figure measured again (a step of several
// rounds) keeps its best value: the highest rate, the lowest time or
// latency, and its note lists every value.
func (e *env) add(key, system string, r bench.Result) {
	fmt.Fprintf(e.log, "  %-10s %-58s %12s %s\n", system, r.Name, formatValue(r.Value, r.Unit), r.Unit)
	for i := range e.figures {
		f := &e.figures[i]
		if f.Key != key {
			continue
		}
		f.runs = append(f.runs, r.Value)
		if better(r, f.Result) {
			f.Result = r
		}
		vals := make([]string, len(f.runs))
		for j, v := range f.runs {
			vals[j] = formatValue(v, r.Unit)
		}
		f.Note = fmt.Sprintf("best of %d rounds (%s)", len(f.runs), strings.Join(vals, ", "))
		if r.Note != "" {
			f.Note += "; " + r.Note
		}
		return
	}
	e.figures = append(e.figures, Figure{Key: key, System: system, Result: r, runs: []float64{r.Value}})
}

// skip records why a figure is missing, once however many rounds say so.
func (e *env) skip(why string) {
	if !slices.Contains(e.skipped, why) {
		e.skipped = append(e.skipped, why)
	}
}

// better reports whether r beats the best so far: a higher rate, or a
// lower time.
func better(r, best bench.Result) bool {
	if r.Unit == "msgs/s" {
		return r.Value > best.Value
	}
	return r.Value < best.Value
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
