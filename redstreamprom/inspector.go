package redstreamprom

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redstream-go/redstream"
)

// DefaultScrapeTimeout bounds how long one scrape of an InspectorCollector
// reads Redis.
const DefaultScrapeTimeout = 5 * time.Second

// inspectParallel is how many streams one scrape reads at once.
const inspectParallel = 8

// CollectorOption configures NewInspectorCollector.
type CollectorOption func(*collectorConfig)

type collectorConfig struct {
	streams  []string
	patterns []string
	timeout  time.Duration
}

// Streams adds streams to those the collector reads at each scrape. A
// stream that does not exist is reported with redstream_inspect_up 0.
func Streams(streams ...string) CollectorOption {
	s := slices.Clone(streams)
	return func(c *collectorConfig) { c.streams = append(c.streams, s...) }
}

// StreamPattern makes the collector read, at each scrape, every stream
// whose key matches the glob pattern (as SCAN MATCH, e.g. "orders:*"),
// listed with redstream.Inspector.Streams. A matching key that is the
// dead-letter stream of another matching stream, as the Inspector names it
// (redstream.Inspector.DeadLetterKey, see redstream.InspectDeadLetterSuffix),
// is skipped: its length is already redstream_dead_letters of that stream.
// Scanning visits every key of the database, so prefer Streams on large
// databases.
func StreamPattern(pattern string) CollectorOption {
	return func(c *collectorConfig) { c.patterns = append(c.patterns, pattern) }
}

// ScrapeTimeout bounds how long one scrape reads Redis (default
// DefaultScrapeTimeout). Streams not read in time are reported with
// redstream_inspect_up 0. Keep it below Prometheus's scrape_timeout.
func ScrapeTimeout(d time.Duration) CollectorOption {
	return func(c *collectorConfig) { c.timeout = d }
}

// InspectorCollector is a prometheus.Collector that reads streams, their
// consumer groups and consumers with a redstream.Inspector when it is
// scraped, so lag, pending counts and stream lengths are those Redis holds
// at that moment, whichever process published or consumed. Run one per
// deployment (or accept one set of series per instance scraped).
//
// A stream that cannot be read (missing, wrong type, Redis unreachable,
// timeout) never fails the scrape: it gets redstream_inspect_up 0, no
// other series, and counts in redstream_inspect_errors_total. A value
// the Inspector cannot know is left out rather than guessed (see
// redstream_group_lag_known). It is safe for concurrent use and holds no
// resources of its own.
type InspectorCollector struct {
	in  *redstream.Inspector
	cfg collectorConfig

	errors prometheus.Counter
}

var _ prometheus.Collector = (*InspectorCollector)(nil)

// NewInspectorCollector returns a collector that reads through in the
// streams named with Streams and those matching StreamPattern. It returns
// an error matching redstream.ErrInvalidOption when in is nil, when no
// stream or pattern is given, on an empty name or pattern, or a
// ScrapeTimeout that is not positive.
func NewInspectorCollector(in *redstream.Inspector, opts ...CollectorOption) (*InspectorCollector, error) {
	cfg := collectorConfig{timeout: DefaultScrapeTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case in == nil:
		return nil, fmt.Errorf("%w: NewInspectorCollector needs an Inspector", redstream.ErrInvalidOption)
	case len(cfg.streams) == 0 && len(cfg.patterns) == 0:
		return nil, fmt.Errorf("%w: NewInspectorCollector needs Streams or StreamPattern", redstream.ErrInvalidOption)
	case slices.Contains(cfg.streams, ""):
		return nil, fmt.Errorf("%w: Streams got an empty stream name", redstream.ErrInvalidOption)
	case slices.Contains(cfg.patterns, ""):
		return nil, fmt.Errorf("%w: StreamPattern got an empty pattern", redstream.ErrInvalidOption)
	case cfg.timeout <= 0:
		return nil, fmt.Errorf("%w: ScrapeTimeout must be positive", redstream.ErrInvalidOption)
	}
	slices.Sort(cfg.streams)
	cfg.streams = slices.Compact(cfg.streams)
	return &InspectorCollector{
		in:  in,
		cfg: cfg,
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "redstream_inspect_errors_total",
			Help: "Failed reads of streams (or of the stream list) by the inspector at scrape time.",
		}),
	}, nil
}

var (
	sLabel = []string{"stream"}
	gLabel = []string{"stream", "group"}
	cLabel = []string{"stream", "group", "consumer"}

	descUp          = prometheus.NewDesc("redstream_inspect_up", "1 if the stream was read at this scrape, 0 if it could not be (missing, wrong type, error, timeout).", sLabel, nil)
	descLength      = prometheus.NewDesc("redstream_stream_length", "Entries in the stream (XLEN).", sLabel, nil)
	descMemory      = prometheus.NewDesc("redstream_stream_memory_bytes", "Memory the server estimates the stream uses (MEMORY USAGE); absent where the server does not tell.", sLabel, nil)
	descDead        = prometheus.NewDesc("redstream_dead_letters", "Entries in the stream's dead-letter stream (0 when it does not exist).", sLabel, nil)
	descLag         = prometheus.NewDesc("redstream_group_lag", "Entries of the stream not yet delivered to the group; absent when it cannot be known exactly (see redstream_group_lag_known).", gLabel, nil)
	descLagKnown    = prometheus.NewDesc("redstream_group_lag_known", "1 if redstream_group_lag is exported for the group, 0 if its lag is unknown at this scrape.", gLabel, nil)
	descPending     = prometheus.NewDesc("redstream_group_pending", "Entries delivered to the group's consumers and not yet acknowledged (XPENDING).", gLabel, nil)
	descOldest      = prometheus.NewDesc("redstream_group_oldest_pending_age_seconds", "Age, from its ID's time, of the oldest entry pending in the group; 0 when nothing is pending.", gLabel, nil)
	descConsumers   = prometheus.NewDesc("redstream_group_consumers", "Consumers in the group.", gLabel, nil)
	descConsPending = prometheus.NewDesc("redstream_consumer_pending", "Entries pending with the consumer.", cLabel, nil)
	descConsIdle    = prometheus.NewDesc("redstream_consumer_idle_seconds", "Time since the consumer last read or claimed; absent where the server does not tell.", cLabel, nil)
)

// Describe sends the descriptions of all series to ch (prometheus.Collector).
func (c *InspectorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descLength, descMemory, descDead, descLag, descLagKnown, descPending, descOldest, descConsumers, descConsPending, descConsIdle} {
		ch <- d
	}
	c.errors.Describe(ch)
}

// Collect reads every stream through the Inspector, at most
// inspectParallel at once and within the ScrapeTimeout, and sends the
// series (prometheus.Collector).
func (c *InspectorCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.timeout)
	defer cancel()
	streams := c.streams(ctx)
	infos := make([]*redstream.StreamInfo, len(streams))
	sem := make(chan struct{}, inspectParallel)
	var wg sync.WaitGroup
	for i, s := range streams {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			info, err := c.in.Stream(ctx, s)
			if err != nil {
				c.errors.Inc()
				return
			}
			infos[i] = info
		})
	}
	wg.Wait()
	for i, s := range streams {
		if infos[i] == nil {
			ch <- gauge(descUp, 0, s)
			continue
		}
		ch <- gauge(descUp, 1, s)
		collectStream(ch, infos[i])
	}
	c.errors.Collect(ch)
}

// streams returns the fixed streams and those matching the patterns,
// sorted and without duplicates.
func (c *InspectorCollector) streams(ctx context.Context) []string {
	if len(c.cfg.patterns) == 0 {
		return c.cfg.streams
	}
	var found []string
	for _, p := range c.cfg.patterns {
		keys, err := c.in.Streams(ctx, p)
		if err != nil {
			c.errors.Inc()
			continue
		}
		found = append(found, keys...)
	}
	// Skip the dead-letter streams of matched streams, named with the
	// Inspector's suffix as its StreamInfo.DeadLetters counts them.
	slices.Sort(found)
	found = slices.Compact(found)
	dead := make(map[string]bool, len(found))
	for _, k := range found {
		dead[c.in.DeadLetterKey(k)] = true
	}
	found = slices.DeleteFunc(found, func(k string) bool { return dead[k] })
	out := append(slices.Clone(c.cfg.streams), found...)
	slices.Sort(out)
	return slices.Compact(out)
}

func collectStream(ch chan<- prometheus.Metric, info *redstream.StreamInfo) {
	s := info.Stream
	ch <- gauge(descLength, float64(info.Length), s)
	if info.MemoryBytes != nil {
		ch <- gauge(descMemory, float64(*info.MemoryBytes), s)
	}
	ch <- gauge(descDead, float64(info.DeadLetters), s)
	for _, g := range info.Groups {
		if g.Lag != nil {
			ch <- gauge(descLag, float64(*g.Lag), s, g.Name)
			ch <- gauge(descLagKnown, 1, s, g.Name)
		} else {
			ch <- gauge(descLagKnown, 0, s, g.Name)
		}
		ch <- gauge(descPending, float64(g.Pending), s, g.Name)
		var age float64
		if g.OldestPendingAge != nil {
			age = g.OldestPendingAge.Seconds()
		}
		ch <- gauge(descOldest, age, s, g.Name)
		ch <- gauge(descConsumers, float64(len(g.Consumers)), s, g.Name)
		for _, cons := range g.Consumers {
			ch <- gauge(descConsPending, float64(cons.Pending), s, g.Name, cons.Name)
			if cons.Idle >= 0 {
				ch <- gauge(descConsIdle, cons.Idle.Seconds(), s, g.Name, cons.Name)
			}
		}
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
