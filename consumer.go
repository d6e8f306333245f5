package redstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

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

var defaultRetry = backoff.Policy{Base: DefaultRetryBase, Max: DefaultRetryMax}

func connBackoffCounter() backoff.Counter { return backoff.Counter{Policy: connBackoff} }

// ConsumerOption configures a Consumer.
type ConsumerOption func(*consumerConfig) error

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
}

// Name sets the consumer's name in the group. A stable name (a pod or
// host name, say) lets a restarted process resume the entries it held
// when it stopped. The default is unique per process and Consumer:
// "<hostname>-<pid>-<n>".
func Name(name string) ConsumerOption {
	return func(c *consumerConfig) error {
		if name == "" {
			return fmt.Errorf("%w: empty consumer name", ErrInvalidOption)
		}
		c.name = name
		return nil
	}
}

// Concurrency sets how many handlers run at once (default
// DefaultConcurrency). The consumer reads no more entries than it has idle
// handlers for, so entries it cannot start soon stay available to other
// consumers of the group.
func Concurrency(n int) ConsumerOption {
	return func(c *consumerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: Concurrency must be at least 1, got %d", ErrInvalidOption, n)
		}
		c.concurrency = n
		return nil
	}
}

// BatchSize caps how many entries one XREADGROUP asks for (COUNT). The
// default is the concurrency; the count asked for never exceeds the number
// of idle handlers.
func BatchSize(n int) ConsumerOption {
	return func(c *consumerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: BatchSize must be at least 1, got %d", ErrInvalidOption, n)
		}
		c.batch = n
		return nil
	}
}

// Block sets how long one XREADGROUP waits for new entries before it is
// sent again (default DefaultBlock). It is never unbounded; Shutdown and
// Close interrupt a waiting read at once. It must be between 1ms and 1
// minute.
func Block(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if d < time.Millisecond || d > time.Minute {
			return fmt.Errorf("%w: Block must be between 1ms and 1m, got %v", ErrInvalidOption, d)
		}
		c.block = d
		return nil
	}
}

// StartID sets where a group created by this consumer starts: "$" (the
// default) delivers only entries added after the group exists, "0" the
// whole stream, and an entry ID the entries after it. An existing group is
// never moved.
func StartID(id string) ConsumerOption {
	return func(c *consumerConfig) error {
		if id != "$" && id != "0" {
			if _, err := ParseID(id); err != nil {
				return fmt.Errorf("%w: StartID: %w", ErrInvalidOption, err)
			}
		}
		c.startID = id
		return nil
	}
}

// AckInterval sets the longest an acknowledgement waits to be sent with
// others (default DefaultAckInterval).
func AckInterval(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if d <= 0 || d > time.Second {
			return fmt.Errorf("%w: AckInterval must be in (0, 1s], got %v", ErrInvalidOption, d)
		}
		c.ackInterval = d
		return nil
	}
}

// AckBatch sets the most entry IDs acknowledged by one XACK (default
// DefaultAckBatch).
func AckBatch(n int) ConsumerOption {
	return func(c *consumerConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: AckBatch must be at least 1, got %d", ErrInvalidOption, n)
		}
		c.ackBatch = n
		return nil
	}
}

// AlsoStreams makes the consumer read these streams too, in the same group
// and with the same handlers. Each stream is read on its own, so streams
// may live on different Redis Cluster nodes.
func AlsoStreams(streams ...string) ConsumerOption {
	return func(c *consumerConfig) error {
		for _, s := range streams {
			if s == "" {
				return fmt.Errorf("%w: empty stream name", ErrInvalidOption)
			}
		}
		c.streams = append(c.streams, streams...)
		return nil
	}
}

// ClaimMinIdle sets how long an entry must have been held by another
// consumer without progress before this consumer takes it over with
// XAUTOCLAIM (default DefaultClaimMinIdle). A consumer keeps the entries
// it is still handling fresh, so a slow handler is not raced; only
// entries of dead or stalled consumers become idle this long.
func ClaimMinIdle(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("%w: ClaimMinIdle must be at least 10ms, got %v", ErrInvalidOption, d)
		}
		c.claimMinIdle = d
		return nil
	}
}

// ClaimInterval sets how often the consumer looks for idle entries to take
// over (default: half of ClaimMinIdle, at most 10s).
func ClaimInterval(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: ClaimInterval must be at least 1ms, got %v", ErrInvalidOption, d)
		}
		c.claimInterval = d
		return nil
	}
}

// MaxDeliveries sets after how many deliveries an entry whose handler
// still fails goes to the dead-letter stream (default
// DefaultMaxDeliveries). 0 means retry forever.
func MaxDeliveries(n int) ConsumerOption {
	return func(c *consumerConfig) error {
		if n < 0 {
			return fmt.Errorf("%w: MaxDeliveries must not be negative, got %d", ErrInvalidOption, n)
		}
		c.maxDeliveries = n
		return nil
	}
}

// RetryBackoff sets the wait before a failed entry is handled again: base
// after the first failure, doubling after each further one, at most max,
// with random jitter in the upper half (defaults DefaultRetryBase and
// DefaultRetryMax). The retry keeps the entry's ID: it is claimed again
// from the pending list, not re-added.
func RetryBackoff(base, max time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if base <= 0 || max < base {
			return fmt.Errorf("%w: RetryBackoff needs 0 < base <= max, got %v, %v", ErrInvalidOption, base, max)
		}
		c.retry = backoff.Policy{Base: base, Max: max}
		return nil
	}
}

// DeadLetterSuffix sets what is appended to a stream's key to name its
// dead-letter stream (default DefaultDeadLetterSuffix, ":dead").
func DeadLetterSuffix(suffix string) ConsumerOption {
	return func(c *consumerConfig) error {
		if suffix == "" {
			return fmt.Errorf("%w: empty dead-letter suffix", ErrInvalidOption)
		}
		c.deadSuffix = suffix
		return nil
	}
}

// DeleteIdleConsumers sets after how long without activity another
// consumer of the group that holds no pending entries is removed from
// the group (default DefaultDeleteIdleConsumers; 0 never removes). A
// consumer that still holds entries is never removed: its entries are
// taken over first.
func DeleteIdleConsumers(d time.Duration) ConsumerOption {
	return func(c *consumerConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: DeleteIdleConsumers must not be negative, got %v", ErrInvalidOption, d)
		}
		c.deleteIdle = d
		return nil
	}
}

// WithMetrics reports what the consumer does to m: handler outcomes and
// durations, running handlers, reclaimed entries, read errors. The
// default reports nothing.
func WithMetrics(m Metrics) ConsumerOption {
	return func(c *consumerConfig) error {
		if m == nil {
			return fmt.Errorf("%w: nil metrics", ErrInvalidOption)
		}
		c.metrics = m
		return nil
	}
}

// WithLogger sets the logger for what the consumer's background work
// cannot return as an error: failed handlers, lost connections, re-created
// groups. The default discards everything.
func WithLogger(l *slog.Logger) ConsumerOption {
	return func(c *consumerConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

var consumerSeq atomic.Int64

func defaultName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "redstream"
	}
	return host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(consumerSeq.Add(1), 10)
}

// Consumer reads entries of a stream as a member of a consumer group,
// hands them to a pool of handlers and acknowledges those handled. Its
// methods are safe for concurrent use. A Consumer runs once: after Run
// returns it cannot be run again.
type Consumer struct {
	client  rueidis.Client
	group   string
	handler Handler
	cfg     consumerConfig
	log     *slog.Logger

	mu        sync.Mutex
	started   bool
	finished  bool
	stopOnce  sync.Once
	stopping  chan struct{}   // closed: read no more
	readCtx   context.Context // canceled with stopping: interrupts a blocked read
	readStop  context.CancelFunc
	hard      context.Context // canceled by Close: abandon everything
	hardStop  context.CancelFunc
	done      chan struct{} // closed when Run returns
	handlerCx context.Context

	sem      chan struct{} // one token per running handler
	acks     chan ackReq
	handlers sync.WaitGroup

	leases leaseSet // entries this consumer is handling or will retry

	retryMu     sync.Mutex
	retryTimers map[*Message]*time.Timer
	retryDue    map[string][]*Message // per stream, handed out in the reader's turn

	readersMu sync.Mutex
	readers   map[string]*streamReader
	ready     chan struct{} // closed once the groups exist

	server ServerInfo

	handled      atomic.Int64
	failed       atomic.Int64
	acked        atomic.Int64
	inFlight     atomic.Int64
	retried      atomic.Int64
	reclaimed    atomic.Int64
	deadLettered atomic.Int64
}

type ackReq struct {
	stream, id string
}

// NewConsumer returns a Consumer of stream in group that passes each entry
// to handler. It checks the options but does not touch Redis; Run joins
// the group. The client stays the caller's: the Consumer never closes it.
func NewConsumer(client rueidis.Client, stream, group string, handler Handler, opts ...ConsumerOption) (*Consumer, error) {
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidOption)
	case group == "":
		return nil, fmt.Errorf("%w: empty group name", ErrInvalidOption)
	case handler == nil:
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	cfg := consumerConfig{
		concurrency: DefaultConcurrency,
		block:       DefaultBlock,
		startID:     "$",
		ackInterval: DefaultAckInterval,
		ackBatch:    DefaultAckBatch,
		streams:     []string{stream},

		claimMinIdle:  DefaultClaimMinIdle,
		maxDeliveries: DefaultMaxDeliveries,
		retry:         defaultRetry,
		deadSuffix:    DefaultDeadLetterSuffix,
		deleteIdle:    DefaultDeleteIdleConsumers,
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool, len(cfg.streams))
	for _, s := range cfg.streams {
		if seen[s] {
			return nil, fmt.Errorf("%w: stream %q given twice", ErrInvalidOption, s)
		}
		seen[s] = true
	}
	if cfg.name == "" {
		cfg.name = defaultName()
	}
	if cfg.batch == 0 {
		cfg.batch = cfg.concurrency
	}
	if cfg.claimInterval == 0 {
		cfg.claimInterval = min(cfg.claimMinIdle/2, 10*time.Second)
	}
	for _, s := range cfg.streams {
		if seen[s+cfg.deadSuffix] {
			return nil, fmt.Errorf("%w: stream %q is also the dead-letter stream of %q", ErrInvalidOption, s+cfg.deadSuffix, s)
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.metrics == nil {
		cfg.metrics = NopMetrics{}
	}
	hard, hardStop := context.WithCancel(context.Background())
	readCtx, readStop := context.WithCancel(hard)
	c := &Consumer{
		client:   client,
		group:    group,
		handler:  handler,
		cfg:      cfg,
		log:      cfg.logger.With("group", group, "consumer", cfg.name),
		stopping: make(chan struct{}),
		hard:     hard,
		hardStop: hardStop,
		readCtx:  readCtx,
		readStop: readStop,
		done:     make(chan struct{}),
		sem:      make(chan struct{}, cfg.concurrency),
		acks:     make(chan ackReq, 2*cfg.concurrency),

		leases:      leaseSet{m: make(map[leaseKey]struct{})},
		retryTimers: make(map[*Message]*time.Timer),
		retryDue:    make(map[string][]*Message),
		readers:     make(map[string]*streamReader),
		ready:       make(chan struct{}),
	}
	return c, nil
}

// Name returns the consumer's name in the group.
func (c *Consumer) Name() string { return c.cfg.name }

// Ready returns a channel that is closed once Run has joined the group on
// every stream (creating them if missing): from then on, with StartID("$"),
// every entry added is delivered. It is never closed if Run fails first.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Group returns the consumer group's name.
func (c *Consumer) Group() string { return c.group }

// Streams returns the streams the consumer reads.
func (c *Consumer) Streams() []string { return append([]string(nil), c.cfg.streams...) }

// ConsumerStats counts what a Consumer has done since Run started.
type ConsumerStats struct {
	Handled  int64 // handlers that returned nil
	Failed   int64 // handlers that returned an error or panicked
	Acked    int64 // entries Redis confirmed as acknowledged
	InFlight int64 // handlers running now

	Retried      int64 // failed entries claimed back for another attempt
	Reclaimed    int64 // entries taken over from other consumers
	DeadLettered int64 // entries moved to the dead-letter stream
}

// Stats returns the consumer's counters. It is cheap and safe to call at
// any time, including after Run returned.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Handled:  c.handled.Load(),
		Failed:   c.failed.Load(),
		Acked:    c.acked.Load(),
		InFlight: c.inFlight.Load(),

		Retried:      c.retried.Load(),
		Reclaimed:    c.reclaimed.Load(),
		DeadLettered: c.deadLettered.Load(),
	}
}

// Run joins the group (creating it, and the stream, if missing), resumes
// the entries this consumer's name still holds, then reads new entries
// until ctx ends or Shutdown or Close is called. Ending ctx works like
// Shutdown: reading stops, running handlers finish and their entries are
// acknowledged before Run returns nil. After Close, Run returns ErrClosed
// once running handlers have returned. Errors joining the group are
// returned at once (ErrNotStream for a key of another type,
// ErrUnreachable when Redis cannot be reached); a connection lost later is
// retried with backoff and logged.
func (c *Consumer) Run(ctx context.Context) (err error) {
	c.mu.Lock()
	switch {
	case c.finished:
		c.mu.Unlock()
		return ErrClosed
	case c.started:
		c.mu.Unlock()
		return ErrRunning
	}
	c.started = true
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	c.handlerCx = hctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.finished = true
		c.mu.Unlock()
		hcancel()
		c.hardStop()
		close(c.done)
	}()
	stopHandlers := context.AfterFunc(c.hard, hcancel)
	defer stopHandlers()

	setup, cancelSetup := context.WithCancel(ctx)
	stopSetup := context.AfterFunc(c.readCtx, cancelSetup) // Shutdown or Close
	c.server = serverInfo(setup, c.client)
	for _, s := range c.cfg.streams {
		if err := c.createGroup(setup, s); err != nil {
			stopSetup()
			cancelSetup()
			switch {
			case c.hard.Err() != nil:
				return ErrClosed
			case ctx.Err() != nil || c.readCtx.Err() != nil:
				return nil // stopped before it started
			}
			return err
		}
	}
	stopSetup()
	cancelSetup()

	// Ending ctx is a graceful shutdown.
	stopWatch := context.AfterFunc(ctx, c.stop)
	defer stopWatch()

	ackDone := make(chan struct{})
	go c.ackLoop(ackDone)
	close(c.ready)
	leaseDone := make(chan struct{})
	leaseStop := make(chan struct{})
	go c.leaseLoop(leaseStop, leaseDone)

	var readers sync.WaitGroup
	errs := make([]error, len(c.cfg.streams))
	for i, s := range c.cfg.streams {
		readers.Add(1)
		go func() {
			defer readers.Done()
			if err := c.readLoop(s); err != nil {
				errs[i] = err
				c.stop() // a fatal error on one stream stops the consumer
			}
		}()
	}
	readers.Wait()
	c.dropRetries()
	c.handlers.Wait()
	close(leaseStop)
	<-leaseDone
	close(c.acks)
	<-ackDone

	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.hard.Err() != nil {
		return ErrClosed
	}
	return nil
}

// Shutdown stops reading, waits for running handlers to finish and for
// their acknowledgements to be sent, and returns. Entries waiting for a
// retry stay pending, to be resumed by a consumer of the same name or
// taken over by another. If ctx ends first it
// closes the consumer as Close does and returns ctx's error. It is safe to
// call more than once, and before or without Run.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.stop()
	c.mu.Lock()
	started := c.started
	if !started {
		c.finished = true
	}
	c.mu.Unlock()
	if !started {
		c.hardStop()
		return nil
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.Close()
		return ctx.Err()
	}
}

// Close stops the consumer at once: the read in progress is abandoned and
// the context of running handlers is canceled. Entries not yet
// acknowledged stay pending in the group, to be resumed by a consumer of
// the same name or taken over by another after ClaimMinIdle. Close does not wait; Run returns
// when the handlers have returned. It is safe to call more than once.
func (c *Consumer) Close() error {
	c.stop()
	c.hardStop()
	c.mu.Lock()
	if !c.started {
		c.finished = true
	}
	c.mu.Unlock()
	return nil
}

func (c *Consumer) stop() {
	c.stopOnce.Do(func() {
		close(c.stopping)
		c.readStop()
	})
}

func (c *Consumer) createGroup(ctx context.Context, stream string) error {
	cmd := c.client.B().XgroupCreate().Key(stream).Group(c.group).Id(c.cfg.startID).Mkstream().Build()
	err := c.client.Do(ctx, cmd).Error()
	if err == nil || rueidis.IsRedisBusyGroup(err) {
		return nil
	}
	return wrapErr("xgroup create", stream+" "+c.group, err)
}

// acquire takes between 1 and max handler slots, waiting for the first.
// It returns 0 when the consumer stops.
func (c *Consumer) acquire(max int) int {
	select {
	case c.sem <- struct{}{}:
	case <-c.stopping:
		return 0
	case <-c.hard.Done():
		return 0
	}
	n := 1
	for n < max {
		select {
		case c.sem <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (c *Consumer) release(n int) {
	for range n {
		<-c.sem
	}
}

// readLoop reads one stream until the consumer stops. It first resumes the
// entries this consumer already holds in the group, then reads new ones.
// It returns an error only for what retrying cannot fix.
func (c *Consumer) readLoop(stream string) error {
	log := c.log.With("stream", stream)
	rd := newStreamReader(c, stream)
	c.readersMu.Lock()
	c.readers[stream] = rd
	c.readersMu.Unlock()
	defer func() {
		c.readersMu.Lock()
		delete(c.readers, stream)
		c.readersMu.Unlock()
		rd.close()
	}()
	claims := newClaimer(c)
	resume := "-"  // entries held by this consumer's name from an earlier run
	lastSeen := "" // the highest new ID handed to a handler
	retry := backoff.Counter{Policy: connBackoff}
	for {
		n := c.acquire(c.cfg.batch)
		if n == 0 {
			break
		}
		select {
		case <-c.stopping: // acquire may pick a slot over a stop
			c.release(n)
			goto stopped
		default:
		}
		var msgs []*Message
		var err error
		fresh := false // read with ">": never delivered before
		if resume == "" && c.hasRetries(stream) {
			msgs = c.retryPage(stream, n)
		} else if resume != "" {
			var last string
			msgs, last, err = c.readOwnPending(c.readCtx, stream, resume, n)
			if err == nil {
				if last == "" {
					resume = "" // all resumed: read new entries from now on
				} else {
					resume = nextID(last)
				}
			}
		} else if claims.due() {
			msgs, err = c.reclaimPage(stream, &claims, n)
		} else {
			msgs, err = rd.readNew(n, claims.blockFor(c.cfg.block))
			fresh = true
		}
		if err != nil {
			c.release(n)
			if c.readCtx.Err() != nil {
				break // stopping
			}
			switch {
			case errors.Is(err, ErrNotStream), errors.Is(err, ErrAuth):
				return err
			case errors.Is(err, ErrNoGroup):
				log.Warn("redstream: consumer group disappeared; re-creating it (entries added while it was missing are not delivered unless it starts at 0)", "err", err)
				if cerr := c.createGroup(c.readCtx, stream); cerr != nil {
					log.Error("redstream: re-creating consumer group failed", "err", cerr)
					c.sleep(retry.Next())
				}
			default:
				c.cfg.metrics.ReadError(stream, c.group, err)
				log.Error("redstream: reading the stream failed; retrying", "err", err, "retry_in", retry.Peek())
				c.sleep(retry.Next())
			}
			continue
		}
		retry.Reset()
		if !c.dispatchAll(msgs, n) {
			return nil
		}
		if fresh && len(msgs) > 0 {
			lastSeen = msgs[len(msgs)-1].ID
		}
	}
stopped:
	if c.hard.Err() != nil || resume != "" {
		return nil
	}
	// Where CLIENT UNBLOCK was refused, the last read was abandoned by
	// closing its connection, and the server may have answered it anyway:
	// entries it handed over sit in this consumer's pending list with IDs
	// above any seen. Look, and handle them rather than strand them. This
	// is bounded in time: a stalled server must not hold up the shutdown.
	ctx, cancel := context.WithTimeout(c.hard, 2*time.Second)
	defer cancel()
	from := "-"
	if lastSeen != "" {
		from = nextID(lastSeen)
	}
	for {
		msgs, last, err := c.readOwnPending(ctx, stream, from, c.cfg.batch)
		if err != nil {
			if c.hard.Err() == nil {
				log.Error("redstream: checking for entries delivered during shutdown failed; they stay pending", "err", err)
			}
			return nil
		}
		if last == "" {
			return nil
		}
		if !c.dispatchAll(msgs, 0) {
			return nil
		}
		from = nextID(last)
	}
}

// streamReader reads new entries of one stream on a connection of its
// own, so that stopping can interrupt its blocked XREADGROUP with CLIENT
// UNBLOCK: the server then answers the read normally (with nothing, or
// with entries it already handed over, which are dispatched), and no
// entry is left delivered but unseen.
type streamReader struct {
	c      *Consumer
	stream string

	dc     rueidis.DedicatedClient
	cancel func()
	id     atomic.Int64 // the connection's CLIENT ID; 0 when unknown

	exited chan struct{}
}

func newStreamReader(c *Consumer, stream string) *streamReader {
	r := &streamReader{c: c, stream: stream, exited: make(chan struct{})}
	go r.unblockOnStop()
	return r
}

func (r *streamReader) close() {
	close(r.exited)
	if r.cancel != nil {
		r.cancel()
	}
}

// connect dedicates a connection to the stream's node and learns its ID.
func (r *streamReader) connect(ctx context.Context) {
	r.dc, r.cancel = r.c.client.Dedicate()
	r.id.Store(0)
	// A keyed command first pins a cluster connection to the stream's node.
	if err := r.dc.Do(ctx, r.dc.B().Exists().Key(r.stream).Build()).Error(); err != nil {
		return
	}
	if id, err := r.dc.Do(ctx, r.dc.B().ClientId().Build()).AsInt64(); err == nil {
		r.id.Store(id)
	}
}

func (r *streamReader) reset() {
	if r.cancel != nil {
		r.cancel()
	}
	r.dc, r.cancel = nil, nil
	r.id.Store(0)
}

func (r *streamReader) readNew(n int, block time.Duration) ([]*Message, error) {
	c := r.c
	if r.dc == nil {
		r.connect(c.readCtx)
	}
	// Without a CLIENT ID the read cannot be unblocked from outside; then
	// stopping cancels it, which closes the connection.
	ctx := c.hard
	if r.id.Load() == 0 {
		ctx = c.readCtx
	}
	cmd := r.dc.B().Xreadgroup().Group(c.group, c.cfg.name).Count(int64(n)).
		Block(block.Milliseconds()).Streams().Key(r.stream).Id(">").Build()
	reply, err := r.dc.Do(ctx, cmd).ToMessage()
	if err == nil {
		var msgs []*Message
		if msgs, err = parseXRead(&reply, r.stream); err == nil {
			return msgs, nil
		}
	}
	if rueidis.IsRedisNil(err) {
		return nil, nil // the block timed out, or CLIENT UNBLOCK
	}
	if isConnErr(err) || errors.Is(err, context.Canceled) {
		r.reset() // a broken dedicated connection is not reused
	}
	return nil, wrapErr("xreadgroup", r.stream+" "+c.group, err)
}

// parseXRead turns an XREADGROUP reply for one stream into messages (first
// deliveries). It allocates the messages and their fields in two blocks
// per reply rather than per entry: this is the consumer's hot path.
func parseXRead(reply *rueidis.RedisMessage, stream string) ([]*Message, error) {
	if reply.IsNil() {
		return nil, nil
	}
	var entries []rueidis.RedisMessage
	if reply.IsMap() { // RESP3: {stream: entries}
		kv, err := reply.ToMap()
		if err != nil {
			return nil, err
		}
		e, ok := kv[stream]
		if !ok {
			return nil, nil
		}
		if entries, err = e.ToArray(); err != nil {
			return nil, err
		}
	} else { // RESP2: [[stream, entries]]
		streams, err := reply.ToArray()
		if err != nil {
			return nil, err
		}
		for i := range streams {
			pair, err := streams[i].ToArray()
			if err != nil || len(pair) != 2 {
				return nil, fmt.Errorf("unexpected XREADGROUP reply")
			}
			if name, _ := pair[0].ToString(); name == stream {
				if entries, err = pair[1].ToArray(); err != nil {
					return nil, err
				}
			}
		}
	}
	total := 0
	raws := make([][]rueidis.RedisMessage, len(entries))
	for i := range entries {
		e, err := entries[i].ToArray()
		if err != nil || len(e) != 2 {
			return nil, fmt.Errorf("unexpected stream entry in XREADGROUP reply")
		}
		if e[1].IsNil() {
			continue // deleted; XREADGROUP > never returns these
		}
		kv, err := e[1].ToArray()
		if err != nil {
			return nil, err
		}
		raws[i] = kv
		total += len(kv) / 2
	}
	block := make([]Message, len(entries))
	fields := make([]Field, total)
	msgs := make([]*Message, 0, len(entries))
	for i := range entries {
		if raws[i] == nil {
			continue
		}
		e, _ := entries[i].ToArray()
		id, err := e[0].ToString()
		if err != nil {
			return nil, err
		}
		kv := raws[i]
		n := len(kv) / 2
		fs := fields[:n:n]
		fields = fields[n:]
		for j := range fs {
			fs[j].Name, _ = kv[2*j].ToString()
			fs[j].Value, _ = kv[2*j+1].ToString()
		}
		m := &block[i]
		m.ID, m.Stream, m.Fields, m.Deliveries = id, stream, fs, 1
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// unblock interrupts the reader's blocked read, if it is in one and the
// server allows CLIENT UNBLOCK; the read then returns nothing at once.
func (r *streamReader) unblock() {
	if id := r.id.Load(); id != 0 {
		ctx, cancel := context.WithTimeout(r.c.hard, time.Second)
		_ = r.c.client.Do(ctx, r.c.client.B().ClientUnblock().ClientId(id).Build()).Error()
		cancel()
	}
}

// unblockOnStop sends CLIENT UNBLOCK for the reader's connection once the
// consumer stops, repeating briefly in case the read was just being sent,
// until the reader has exited.
func (r *streamReader) unblockOnStop() {
	c := r.c
	select {
	case <-c.stopping:
	case <-r.exited:
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r.unblock()
		select {
		case <-r.exited:
			return
		case <-c.hard.Done():
			return
		case <-t.C:
		}
	}
}

// dispatchAll starts a handler for each message. The first held of them
// already have a slot; the rest wait for one. It reports false when the
// consumer was closed while waiting.
func (c *Consumer) dispatchAll(msgs []*Message, held int) bool {
	for i, m := range msgs {
		if i >= held {
			select {
			case c.sem <- struct{}{}:
			case <-c.hard.Done():
				return false // the held slots all went to dispatched messages
			}
		}
		c.dispatch(m)
	}
	if len(msgs) < held {
		c.release(held - len(msgs))
	}
	return true
}

// readOwnPending lists up to n entries this consumer holds from after, and
// claims them again for itself, which counts a new delivery in Redis (so a
// message that crashes its consumer every time is still counted) and
// returns their data. Entries deleted from the stream meanwhile are
// removed from the pending list; entries another consumer took over in
// between are left to it.
// It also returns the last pending ID it listed, "" when there were none.
func (c *Consumer) readOwnPending(ctx context.Context, stream, after string, n int) ([]*Message, string, error) {
	cmd := c.client.B().Xpending().Key(stream).Group(c.group).Start(after).End("+").Count(int64(n)).Consumer(c.cfg.name).Build()
	rows, err := c.client.Do(ctx, cmd).ToArray()
	if err != nil {
		return nil, "", wrapErr("xpending", stream+" "+c.group, err)
	}
	if len(rows) == 0 {
		return nil, "", nil
	}
	ids := make([]string, 0, len(rows))
	deliveries := make(map[string]int, len(rows))
	last := ""
	for _, row := range rows {
		cols, err := row.ToArray()
		if err != nil || len(cols) < 4 {
			return nil, "", wrapErr("xpending", stream+" "+c.group, fmt.Errorf("unexpected reply row"))
		}
		id, _ := cols[0].ToString()
		count, _ := cols[3].AsInt64()
		last = id
		if c.leases.has(stream, id) {
			continue // being handled or waiting to retry already
		}
		ids = append(ids, id)
		deliveries[id] = int(count) + 1
	}
	if len(ids) == 0 {
		return nil, last, nil
	}
	entries, gone, err := c.claimOwn(ctx, stream, ids)
	if err != nil {
		return nil, "", err
	}
	msgs := make([]*Message, 0, len(entries))
	for _, e := range entries {
		msgs = append(msgs, newMessage(stream, e, deliveries[e.ID]))
	}
	if len(gone) > 0 {
		// The data is gone (trimmed or deleted): nothing can handle it, and
		// leaving it pending would hand it out forever.
		c.log.Warn("redstream: pending entries no longer exist in the stream; acknowledging them", "stream", stream, "count", len(gone))
		for _, id := range gone {
			c.acks <- ackReq{stream: stream, id: id}
		}
	}
	return msgs, last, nil
}

// nextID returns the smallest entry ID after id, for an exclusive range
// start that servers without "(" support understand too.
func nextID(id string) string {
	p, err := ParseID(id)
	if err != nil {
		return "+" // cannot happen for IDs Redis returned; end the range
	}
	if p.Seq == math.MaxUint64 {
		return ID{Ms: p.Ms + 1}.String()
	}
	return ID{Ms: p.Ms, Seq: p.Seq + 1}.String()
}

// asEntries parses a reply holding stream entries (XRANGE, XCLAIM),
// skipping the nil elements some servers return for deleted entries.
func asEntries(r rueidis.RedisResult) ([]rueidis.XRangeSlice, error) {
	m, err := r.ToMessage()
	if err != nil {
		return nil, err
	}
	return entriesOf(&m)
}

func entriesOf(m *rueidis.RedisMessage) ([]rueidis.XRangeSlice, error) {
	arr, err := m.ToArray()
	if err != nil {
		return nil, err
	}
	out := make([]rueidis.XRangeSlice, 0, len(arr))
	for i := range arr {
		if arr[i].IsNil() {
			continue
		}
		e, err := arr[i].AsXRangeSlice()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func newMessage(stream string, e rueidis.XRangeSlice, deliveries int) *Message {
	fields := make([]Field, len(e.FieldValues))
	for i, fv := range e.FieldValues {
		fields[i] = Field{Name: fv.Field, Value: fv.Value}
	}
	return &Message{ID: e.ID, Stream: stream, Fields: fields, Deliveries: deliveries}
}

func (c *Consumer) dispatch(m *Message) {
	c.leases.add(m) // before the handler starts: no claim may race it
	c.handlers.Add(1)
	c.inFlight.Add(1)
	c.cfg.metrics.InFlight(m.Stream, c.group, 1)
	go c.handle(m)
}

func (c *Consumer) handle(m *Message) {
	defer func() {
		c.inFlight.Add(-1)
		c.cfg.metrics.InFlight(m.Stream, c.group, -1)
		<-c.sem
		c.handlers.Done()
	}()
	if max := c.cfg.maxDeliveries; max > 0 && m.Deliveries > max {
		// Delivered more often than allowed without an outcome: its earlier
		// consumers died or stalled while handling it. Do not try again.
		c.leases.remove(m)
		if c.toDeadLetter(m, fmt.Errorf("delivered %d times, more than MaxDeliveries %d, without being handled (consumers died or stalled on it)", m.Deliveries, max)) {
			c.cfg.metrics.Handled(m.Stream, c.group, OutcomeDeadLetter, 0)
		}
		return
	}
	start := time.Now()
	err := c.call(m)
	took := time.Since(start)
	if err == nil {
		c.leases.remove(m)
		c.handled.Add(1)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeAck, took)
		c.acks <- ackReq{stream: m.Stream, id: m.ID}
		return
	}
	c.failed.Add(1)
	switch max := c.cfg.maxDeliveries; {
	case errors.Is(err, ErrPermanent), errors.Is(err, ErrDecode):
		c.leases.remove(m)
		c.entryLog(m).Warn("redstream: handler failed permanently; dead-lettering the entry", "err", err)
		c.toDeadLetter(m, err)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeDeadLetter, took)
	case max > 0 && m.Deliveries >= max:
		c.leases.remove(m)
		c.entryLog(m).Warn("redstream: handler failed on the last allowed delivery; dead-lettering the entry", "err", err)
		c.toDeadLetter(m, err)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeDeadLetter, took)
	default:
		delay := c.cfg.retry.Delay(m.Deliveries - 1)
		c.entryLog(m).Warn("redstream: handler failed; will retry", "err", err, "retry_in", delay)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeRetry, took)
		c.scheduleRetry(m, delay) // keeps the lease while waiting
	}
}

// entryLog is the logger for what happens to one entry; it is made only
// when something is logged, off the hot path.
func (c *Consumer) entryLog(m *Message) *slog.Logger {
	return c.log.With("stream", m.Stream, "id", m.ID, "deliveries", m.Deliveries)
}

// toDeadLetter moves m to its dead-letter stream and reports whether it
// did; on failure the entry stays pending and comes back through a retry
// or a reclaim.
func (c *Consumer) toDeadLetter(m *Message, cause error) bool {
	moved, err := c.deadLetter(c.hard, m, cause)
	switch {
	case err != nil:
		c.entryLog(m).Error("redstream: dead-lettering failed; the entry stays pending", "err", err)
		return false
	case moved:
		c.deadLettered.Add(1)
	}
	return moved
}

// PanicError is the error a handler's panic is turned into.
type PanicError struct {
	Value any    // what the handler panicked with
	Stack []byte // the goroutine's stack at the panic
}

// Error describes the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("redstream: handler panicked: %v", e.Value) }

func (c *Consumer) call(m *Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return c.handler.Handle(c.handlerCx, m)
}

// ackLoop batches acknowledgements: an ID waits at most AckInterval, and
// one XACK carries up to AckBatch IDs per stream. It returns after the
// acks channel is closed and what it holds has been sent.
func (c *Consumer) ackLoop(done chan<- struct{}) {
	defer close(done)
	pending := make(map[string][]string, len(c.cfg.streams))
	count := 0
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	retry := backoff.Counter{Policy: connBackoff}
	flush := func() bool {
		if count == 0 {
			return true
		}
		cmds := make(rueidis.Commands, 0, len(pending))
		streams := make([]string, 0, len(pending))
		for s, ids := range pending {
			for len(ids) > 0 {
				k := min(len(ids), c.cfg.ackBatch)
				cmds = append(cmds, c.client.B().Xack().Key(s).Group(c.group).Id(ids[:k]...).Build())
				streams = append(streams, s)
				ids = ids[k:]
			}
		}
		ok := true
		failed := make(map[string]bool)
		for i, r := range c.client.DoMulti(c.hard, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				ok = false
				failed[streams[i]] = true
				c.log.Error("redstream: acknowledging entries failed; will retry", "stream", streams[i], "err", err)
				continue
			}
			c.acked.Add(n)
		}
		// Keep only the streams whose XACK failed; acking twice is harmless.
		for s, ids := range pending {
			if !failed[s] {
				count -= len(ids)
				delete(pending, s)
			}
		}
		return ok
	}
	backingOff := false // a flush failed: wait for the timer before the next
	for {
		select {
		case a, open := <-c.acks:
			if !open {
				for attempt := 0; !flush() && attempt < 3; attempt++ {
					if !c.wait(retry.Next()) {
						break // closed: do not hold Close up
					}
				}
				if count > 0 {
					c.log.Error("redstream: acknowledgements lost at shutdown; those entries will be delivered again", "count", count)
				}
				return
			}
			pending[a.stream] = append(pending[a.stream], a.id)
			count++
			switch {
			case backingOff:
			case count >= c.cfg.ackBatch:
				if flush() {
					retry.Reset()
					break
				}
				backingOff = true
				timer.Stop()
				timer.Reset(retry.Next())
				armed = true
			case !armed:
				timer.Reset(c.cfg.ackInterval)
				armed = true
			}
		case <-timer.C:
			armed = false
			if flush() {
				retry.Reset()
				backingOff = false
			} else if c.hard.Err() == nil {
				backingOff = true
				timer.Reset(retry.Next())
				armed = true
			}
		}
	}
}

// wait sleeps d unless the consumer is closed first; it reports whether
// the full wait elapsed.
func (c *Consumer) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.hard.Done():
		return false
	}
}

func (c *Consumer) deadKey(stream string) string { return stream + c.cfg.deadSuffix }

// sleep waits d, or until the consumer is stopped or closed; it reports
// whether the full wait elapsed.
func (c *Consumer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stopping:
		return false
	case <-c.hard.Done():
		return false
	}
}
