package redstream

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redstream-go/redstream/internal/backoff"
)

// Consumer defaults.
const (
	// DefaultConcurrency is how many handlers a Consumer runs at once.
	DefaultConcurrency = 64
	// DefaultBlock bounds each XREADGROUP wait for new entries.
	DefaultBlock = time.Second
	// DefaultAckInterval is the longest an acknowledgement waits to be
	// batched with others before it is sent.
	DefaultAckInterval = 2 * time.Millisecond
	// DefaultAckBatch is the most entry IDs sent in one XACK.
	DefaultAckBatch = 1024
	// DefaultClaimMinIdle is how long an entry must have sat with another
	// consumer, untouched, before this one takes it over.
	DefaultClaimMinIdle = 30 * time.Second
	// DefaultMaxDeliveries is how many deliveries an entry gets before it
	// goes to the dead-letter stream.
	DefaultMaxDeliveries = 5
	// DefaultRetryBase and DefaultRetryMax bound the wait before a failed
	// entry is handled again: it doubles from the base up to the max.
	DefaultRetryBase = time.Second
	DefaultRetryMax  = time.Minute
	// DefaultDeleteIdleConsumers is how long a consumer without pending
	// entries may stay silent before it is removed from the group.
	DefaultDeleteIdleConsumers = 24 * time.Hour
)

// Bounds of the options that size something: a number of goroutines, a
// read's COUNT, an XACK's length. Values beyond them are refused with
// ErrInvalidOption, so that a typo cannot exhaust memory.
const (
	maxConcurrency = 100_000
	maxBatchSize   = 10_000
	maxAckBatch    = 10_000
	// maxDefaultRead is the most entries a Consumer without BatchSize asks
	// for in one read, however many handlers it has: a larger Concurrency
	// lets more entries be handled at once, not read at once.
	maxDefaultRead = 1000
)

// checkSize returns ErrInvalidOption unless 1 <= n <= most.
func checkSize(name string, n, most int) error {
	if n < 1 || n > most {
		return fmt.Errorf("%w: %s must be between 1 and %d, got %d", ErrInvalidOption, name, most, n)
	}
	return nil
}

var defaultRetry = backoff.Policy{Base: DefaultRetryBase, Max: DefaultRetryMax}

// connBackoff paces retries after Redis errors: 50ms doubling to 5s.
var connBackoff = backoff.Policy{Base: 50 * time.Millisecond, Max: 5 * time.Second}

func connBackoffCounter() backoff.Counter { return backoff.Counter{Policy: connBackoff} }

// ConsumerOption configures a Consumer (NewConsumer, NewBatchConsumer).
type ConsumerOption interface {
	applyToConsumer(*consumerConfig) error
}

// TopicConsumerOption configures a TopicConsumer.
type TopicConsumerOption interface {
	applyToTopic(*consumerConfig) error
}

// Option configures both kinds of consumer. Options that make sense for
// one kind only are a ConsumerOption or a TopicConsumerOption alone, so
// that passing one to the other kind does not compile.
type Option interface {
	ConsumerOption
	TopicConsumerOption
}

// option is accepted by both kinds; consumerOnly and topicOnly by one.
type (
	option       func(*consumerConfig) error
	consumerOnly func(*consumerConfig) error
	topicOnly    func(*consumerConfig) error
)

func (o option) applyToConsumer(c *consumerConfig) error       { return o(c) }
func (o option) applyToTopic(c *consumerConfig) error          { return o(c) }
func (o consumerOnly) applyToConsumer(c *consumerConfig) error { return o(c) }
func (o topicOnly) applyToTopic(c *consumerConfig) error       { return o(c) }

type consumerConfig struct {
	name        string
	concurrency int
	batch       int
	block       time.Duration
	startID     string
	ackInterval time.Duration
	ackBatch    int
	logger      *slog.Logger
	streams     []string

	claimMinIdle  time.Duration
	claimInterval time.Duration
	maxDeliveries int
	retry         backoff.Policy
	deadSuffix    string
	deleteIdle    time.Duration
	metrics       Metrics
	lease         time.Duration // topic consumers only
	batchWait     time.Duration // batch consumers only
	batchWaitSet  bool
}

// Name sets the consumer's name in the group. A stable name (a pod or
// host name, say) lets a restarted process resume the entries it held
// when it stopped. The default is unique per process and Consumer:
// "<hostname>-<pid>-<n>".
func Name(name string) Option {
	return option(func(c *consumerConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty consumer name", ErrInvalidOption)
		}
		c.name = name
		return nil
	})
}

// Concurrency sets how many handlers run at once, between 1 and 100000
// (default DefaultConcurrency; for a batch consumer, how many batches,
// default 1). A consumer reads no more entries than it has idle handlers
// for (a batch consumer: than fit in its idle batches), so entries it
// cannot start soon stay available to other consumers of the group.
// Handlers run on goroutines started as the load needs them, so a large
// setting costs nothing until it is used; one read asks for at most
// BatchSize entries whatever the setting.
func Concurrency(n int) Option {
	return option(func(c *consumerConfig) error {
		if err := checkSize("Concurrency", n, maxConcurrency); err != nil {
			return err
		}
		c.concurrency = n
		return nil
	})
}

// BatchSize caps how many entries one XREADGROUP asks for (COUNT),
// between 1 and 10000. The default is the concurrency, at most 1000; for
// a batch consumer it is DefaultBatchSize, and it is also the most
// entries one batch holds.
func BatchSize(n int) Option {
	return option(func(c *consumerConfig) error {
		if err := checkSize("BatchSize", n, maxBatchSize); err != nil {
			return err
		}
		c.batch = n
		return nil
	})
}

// Block sets how long one XREADGROUP waits for new entries before it is
// sent again (default DefaultBlock). It is never unbounded; Shutdown and
// Close interrupt a waiting read at once. It must be between 1ms and 1
// minute.
func Block(d time.Duration) Option {
	return option(func(c *consumerConfig) error {
		if d < time.Millisecond || d > time.Minute {
			return fmt.Errorf("%w: Block must be between 1ms and 1m, got %v", ErrInvalidOption, d)
		}
		c.block = d
		return nil
	})
}

// StartID sets where a group created by this consumer starts: "0" (the
// default) delivers the whole stream, entries already there included;
// "$" only entries added after the group exists (a group created at "$"
// on a stream that holds entries logs that they are not delivered); and
// an entry ID the entries after it. An existing group is never moved. An
// ID in the future and after the stream's last entry is refused when Run
// would create the group there (an error matching ErrBeyondEnd): the group
// would skip every entry added until the clock reached it.
func StartID(id string) Option {
	return option(func(c *consumerConfig) error {
		if id != "$" && id != "0" {
			if _, err := ParseID(id); err != nil {
				return fmt.Errorf("%w: StartID: %w", ErrInvalidOption, err)
			}
		}
		c.startID = id
		return nil
	})
}

// AckInterval sets the longest an acknowledgement waits to be sent with
// others (default DefaultAckInterval).
func AckInterval(d time.Duration) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		if d <= 0 || d > time.Second {
			return fmt.Errorf("%w: AckInterval must be in (0, 1s], got %v", ErrInvalidOption, d)
		}
		c.ackInterval = d
		return nil
	})
}

// AckBatch sets the most entry IDs acknowledged by one XACK, between 1
// and 10000 (default DefaultAckBatch).
func AckBatch(n int) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		if err := checkSize("AckBatch", n, maxAckBatch); err != nil {
			return err
		}
		c.ackBatch = n
		return nil
	})
}

// AlsoStreams makes the consumer read these streams too, in the same group
// and with the same handlers. Each stream is read on its own, so streams
// may live on different Redis Cluster nodes.
func AlsoStreams(streams ...string) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		for _, s := range streams {
			if s == "" {
				return fmt.Errorf("%w: empty stream name", ErrInvalidOption)
			}
		}
		c.streams = append(c.streams, streams...)
		return nil
	})
}

// ClaimMinIdle sets how long an entry must have been held by another
// consumer without progress before this consumer takes it over with
// XAUTOCLAIM (default DefaultClaimMinIdle). A consumer keeps the entries
// it is still handling fresh, so a slow handler is not raced; only
// entries of dead or stalled consumers become idle this long.
func ClaimMinIdle(d time.Duration) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("%w: ClaimMinIdle must be at least 10ms, got %v", ErrInvalidOption, d)
		}
		c.claimMinIdle = d
		return nil
	})
}

// ClaimInterval sets how often the consumer looks for idle entries to take
// over (default: half of ClaimMinIdle, at most 10s).
func ClaimInterval(d time.Duration) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: ClaimInterval must be at least 1ms, got %v", ErrInvalidOption, d)
		}
		c.claimInterval = d
		return nil
	})
}

// MaxDeliveries sets after how many deliveries an entry whose handler
// still fails goes to the dead-letter stream (default
// DefaultMaxDeliveries). 0 means retry forever.
func MaxDeliveries(n int) Option {
	return option(func(c *consumerConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: MaxDeliveries must not be negative, got %d", ErrInvalidOption, n)
		}
		c.maxDeliveries = n
		return nil
	})
}

// RetryBackoff sets the wait before a failed entry is handled again: base
// after the first failure, doubling after each further one, at most max,
// with random jitter in the upper half (defaults DefaultRetryBase and
// DefaultRetryMax). The retry keeps the entry's ID: it is claimed again
// from the pending list, not re-added.
func RetryBackoff(base, max time.Duration) Option {
	return option(func(c *consumerConfig) error {
		if base <= 0 || max < base {
			return fmt.Errorf("%w: RetryBackoff needs 0 < base <= max, got %v, %v", ErrInvalidOption, base, max)
		}
		c.retry = backoff.Policy{Base: base, Max: max}
		return nil
	})
}

// DeadLetterSuffix sets what is appended to a stream's key to name its
// dead-letter stream (default DefaultDeadLetterSuffix, ":dead").
func DeadLetterSuffix(suffix string) Option {
	return option(func(c *consumerConfig) error {
		if suffix == "" {
			return fmt.Errorf("%w: empty dead-letter suffix", ErrInvalidOption)
		}
		c.deadSuffix = suffix
		return nil
	})
}

// DeleteIdleConsumers sets after how long without activity another
// consumer of the group that holds no pending entries is removed from
// the group (default DefaultDeleteIdleConsumers; 0 never removes). A
// consumer that still holds entries is never removed: its entries are
// taken over first. A TopicConsumer removes them from the partitions it
// owns.
func DeleteIdleConsumers(d time.Duration) Option {
	return option(func(c *consumerConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: DeleteIdleConsumers must not be negative, got %v", ErrInvalidOption, d)
		}
		c.deleteIdle = d
		return nil
	})
}

// WithMetrics reports what the consumer does to m: handler outcomes and
// durations, running handlers, reclaimed entries, read errors; and if m
// is also a HandleTracer, it wraps every handler call. It
// serves Consumers and TopicConsumers alike. The default reports
// nothing.
func WithMetrics(m Metrics) Option {
	return option(func(c *consumerConfig) error {
		if m == nil {
			return fmt.Errorf("%w: nil metrics", ErrInvalidOption)
		}
		c.metrics = m
		return nil
	})
}

// WithLogger sets the logger for what the consumer's background work
// cannot return as an error: failed handlers, lost connections, re-created
// groups. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return option(func(c *consumerConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	})
}

var consumerSeq atomic.Int64

func defaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "redstream"
	}
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(consumerSeq.Add(1), 10)
}

// Lease sets how long a TopicConsumer's claim on a partition lasts without
// renewal (default DefaultLease). It renews every third of it, and stops
// handling a partition once two thirds have passed without a renewal, so
// that no two consumers handle one partition at once. Partitions move
// within about this long.
func Lease(d time.Duration) TopicConsumerOption {
	return topicOnly(func(c *consumerConfig) error {
		if d < 30*time.Millisecond {
			return fmt.Errorf("%w: Lease must be at least 30ms, got %v", ErrInvalidOption, d)
		}
		c.lease = d
		return nil
	})
}

// BatchWait sets how long a batch consumer (NewBatchConsumer) waits for
// more entries to fill a batch up to BatchSize once the first has arrived
// (default 0: a batch is what one read returns). A Consumer of single
// messages refuses it with ErrInvalidOption.
func BatchWait(d time.Duration) ConsumerOption {
	return consumerOnly(func(c *consumerConfig) error {
		if d < 0 || d > time.Minute {
			return fmt.Errorf("%w: BatchWait must be between 0 and 1m, got %v", ErrInvalidOption, d)
		}
		c.batchWait = d
		c.batchWaitSet = true
		return nil
	})
}

// defaultConsumerConfig is a Consumer's configuration before options:
// concurrency handlers, reads of batch entries (0: as many as handlers, at
// most maxDefaultRead).
func defaultConsumerConfig(stream string, concurrency, batch int) consumerConfig {
	return consumerConfig{
		concurrency: concurrency,
		batch:       batch,
		block:       DefaultBlock,
		startID:     "0",
		ackInterval: DefaultAckInterval,
		ackBatch:    DefaultAckBatch,
		streams:     []string{stream},

		claimMinIdle:  DefaultClaimMinIdle,
		maxDeliveries: DefaultMaxDeliveries,
		retry:         defaultRetry,
		deadSuffix:    DefaultDeadLetterSuffix,
		deleteIdle:    DefaultDeleteIdleConsumers,
	}
}

// finish checks a Consumer's configuration once the options are applied,
// and fills in what depends on other settings.
func (cfg *consumerConfig) finish() error {
	seen := make(map[string]bool, len(cfg.streams))
	for _, s := range cfg.streams {
		if seen[s] {
			return fmt.Errorf("%w: stream %q given twice", ErrInvalidOption, s)
		}
		seen[s] = true
	}
	for _, s := range cfg.streams {
		if seen[s+cfg.deadSuffix] {
			return fmt.Errorf("%w: stream %q is also the dead-letter stream of %q", ErrInvalidOption, s+cfg.deadSuffix, s)
		}
	}
	if cfg.claimInterval == 0 {
		cfg.claimInterval = min(cfg.claimMinIdle/2, 10*time.Second)
	}
	cfg.finishCommon()
	return nil
}

// finishCommon fills in the defaults both consumer kinds share.
func (cfg *consumerConfig) finishCommon() {
	if cfg.name == "" {
		cfg.name = defaultName()
	}
	if cfg.batch == 0 {
		cfg.batch = min(cfg.concurrency, maxDefaultRead)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.metrics == nil {
		cfg.metrics = NopMetrics{}
	}
}
