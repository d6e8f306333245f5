package redstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Consumer reads entries of a stream as a member of a consumer group,
// hands them to a pool of handlers and acknowledges those handled. Its
// methods are safe for concurrent use. A Consumer runs once: after Run
// returns it cannot be run again.
//
// Its parts each have a file: reader.go reads (one reader per stream),
// pool.go runs the handlers, acker.go sends the acknowledgements (riding
// along with the next read where it can), retry.go holds failed entries
// until they are due, keepalive.go keeps held entries from being claimed,
// claimer.go takes over idle entries of dead consumers, deadletter.go
// moves entries that failed for good, and scheduler.go moves scheduled
// entries (PublishAt) into the streams when they are due.
type Consumer struct {
	client  rueidis.Client
	group   string
	handler Handler      // or
	batches BatchHandler // for a batch consumer
	cfg     consumerConfig
	log     *slog.Logger
	life    lifecycle
	calls   handlerCall

	queue   *workQueue
	workers sync.WaitGroup
	acker   *acker
	retries *retryQueue
	held    *heldSet // entries read and not yet settled, or waiting to retry

	// Room: units in hand (reserved for a read, queued or running) up to
	// capacity. A unit is an entry, or for a batch consumer a batch slot
	// of BatchSize units: one batch holds its slot whatever its size.
	capacity int
	slot     int
	inHand   atomic.Int64
	rooms    []chan struct{} // one per reader: woken when room is given back
	waiting  atomic.Int64    // readers waiting for room
	wakeAt   atomic.Int64    // a lone waiting reader can read once inHand is down to this

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

// NewConsumer returns a Consumer of stream in group that passes each entry
// to handler. It checks the options but does not touch Redis; Run joins
// the group. The client stays the caller's: the Consumer never closes it.
func NewConsumer(client rueidis.Client, stream, group string, handler Handler, opts ...ConsumerOption) (*Consumer, error) {
	if handler == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidOption)
	}
	cfg := defaultConsumerConfig(stream, DefaultConcurrency, 0)
	c, err := newConsumer(client, stream, group, cfg, opts)
	if err != nil {
		return nil, err
	}
	if c.cfg.batchWaitSet {
		return nil, fmt.Errorf("%w: BatchWait applies to batch consumers only (NewBatchConsumer)", ErrInvalidOption)
	}
	c.handler = handler
	c.capacity, c.slot = c.cfg.concurrency, 1
	return c, nil
}

// DefaultBatchSize is how many entries a batch consumer hands to its
// handler at most, unless BatchSize says otherwise.
const DefaultBatchSize = 1000

// NewBatchConsumer returns a Consumer of stream in group that passes
// entries to h in batches of one stream's entries, in ID order: up to
// BatchSize (default DefaultBatchSize) entries, as many as one read
// returns, waiting BatchWait (default 0) for more to fill it. Concurrency
// (default 1) is how many batches are handled at once; while the stream
// has a backlog the consumer reads one more batch ahead of them, so that
// Redis serves the next read while the handler works. Everything else is
// as for NewConsumer: retries, dead letters and MaxDeliveries apply to
// each entry on its own (see BatchHandler), and so do reclaim, keep-alive,
// shutdown and metrics.
func NewBatchConsumer(client rueidis.Client, stream, group string, h BatchHandler, opts ...ConsumerOption) (*Consumer, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil batch handler", ErrInvalidOption)
	}
	cfg := defaultConsumerConfig(stream, 1, DefaultBatchSize)
	c, err := newConsumer(client, stream, group, cfg, opts)
	if err != nil {
		return nil, err
	}
	c.batches = h
	c.capacity, c.slot = c.cfg.concurrency*c.cfg.batch, c.cfg.batch
	return c, nil
}

func newConsumer(client rueidis.Client, stream, group string, cfg consumerConfig, opts []ConsumerOption) (*Consumer, error) {
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	case stream == "":
		return nil, fmt.Errorf("%w: empty stream name", ErrInvalidOption)
	case group == "":
		return nil, fmt.Errorf("%w: empty group name", ErrInvalidOption)
	}
	for _, o := range opts {
		if err := o.applyToConsumer(&cfg); err != nil {
			return nil, err
		}
	}
	if err := cfg.finish(); err != nil {
		return nil, err
	}
	c := &Consumer{
		client:  client,
		group:   group,
		cfg:     cfg,
		log:     cfg.logger.With("group", group, "consumer", cfg.name),
		life:    newLifecycle(),
		calls:   newHandlerCall(group, cfg.metrics, cfg.maxDeliveries),
		queue:   newWorkQueue(),
		held:    newHeldSet(),
		readers: make(map[string]*streamReader),
		ready:   make(chan struct{}),
	}
	c.acker = newAcker(client, group, &c.cfg, &c.life, c.log, &c.acked, c.held)
	c.retries = newRetryQueue(c.life.stopping, c.held, c.wake)
	return c, nil
}

// Name returns the consumer's name in the group.
func (c *Consumer) Name() string { return c.cfg.name }

// Ready returns a channel that is closed once Run has joined the group on
// every stream (creating them if missing) and registered the consumer's
// name: from then on, even with StartID("$"), every entry added is
// delivered. It is never closed if Run fails first.
func (c *Consumer) Ready() <-chan struct{} { return c.ready }

// Group returns the consumer group's name.
func (c *Consumer) Group() string { return c.group }

// Streams returns the streams the consumer reads.
func (c *Consumer) Streams() []string { return append([]string(nil), c.cfg.streams...) }

// ConsumerStats counts what a Consumer has done since Run started.
type ConsumerStats struct {
	Handled  int64 // entries whose handler returned nil
	Failed   int64 // entries whose handler returned an error or panicked
	Acked    int64 // entries Redis confirmed as acknowledged
	InFlight int64 // entries being handled now

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

// Run joins the group (creating it, and the stream, if missing, at
// StartID; joining a group that exists writes nothing, so it works while
// Redis refuses writes, e.g. under maxmemory), resumes the entries this
// consumer's name still holds, then reads new entries until ctx ends or
// Shutdown or Close is called. A group that disappears meanwhile is
// re-created after the last new entry this consumer was handed, and the
// fact logged. Ending ctx works like
// Shutdown: reading stops, running handlers finish and their entries are
// acknowledged before Run returns nil. After Close, Run returns ErrClosed
// once running handlers have returned. Errors joining the group are
// returned at once (ErrNotStream for a key of another type, ErrBeyondEnd
// for a StartID in the future, ErrUnreachable when Redis cannot be
// reached); a connection lost later is
// retried with backoff and logged.
func (c *Consumer) Run(ctx context.Context) error {
	end, err := c.life.begin(ctx)
	if err != nil {
		return err
	}
	defer end()
	if err := c.join(ctx); err != nil {
		if err == errStoppedEarly {
			return nil
		}
		return err
	}

	c.acker.start()
	keep := c.keepAlive()
	keep.start()
	moves := newScheduler(c.life.hard, c.client, c.Streams, c.log)
	moves.start()
	c.queue.startWorkers(c.cfg.concurrency, &c.workers, c.work)
	close(c.ready)
	err = c.readAll()
	moves.stop()

	// Stopping, in order: nothing more is read; waiting retries are let
	// go (they stay pending); what was read is handled; then the last
	// acknowledgements are sent.
	c.retries.stop()
	c.queue.close()
	c.workers.Wait()
	keep.stop()
	c.acker.stop()

	if err != nil {
		return err
	}
	if c.life.hard.Err() != nil {
		return ErrClosed
	}
	return nil
}

// join joins the group on every stream, creating it only where it is
// missing (see joinGroups), and registers the consumer's name. A stop
// before it is done ends Run without an error.
func (c *Consumer) join(ctx context.Context) error {
	setup, cancel := context.WithCancel(ctx)
	defer cancel()
	stopSetup := context.AfterFunc(c.life.readCtx, cancel) // Shutdown or Close
	defer stopSetup()
	c.server = serverInfo(setup, c.client)
	joins, err := joinGroups(setup, c.client, c.group, c.cfg.startID, c.cfg.streams)
	if err != nil {
		switch {
		case c.life.hard.Err() != nil:
			return ErrClosed
		case ctx.Err() != nil || c.life.readCtx.Err() != nil:
			return errStoppedEarly
		}
		return err
	}
	noteCreatedAtEnd(c.log, c.group, c.cfg.startID, joins)
	registerConsumer(setup, c.client, c.server, c.group, c.cfg.name, c.cfg.streams, c.log)
	return nil
}

// errStoppedEarly ends Run with nil: stopped before it joined.
var errStoppedEarly = errors.New("stopped before joining")

func (c *Consumer) keepAlive() *keepAlive {
	return &keepAlive{
		client: c.client, group: c.group, name: c.cfg.name,
		every: c.cfg.claimMinIdle / 3, held: c.held, life: &c.life, log: c.log,
		onLost: c.retries.cancel,
	}
}

// readAll runs a reader per stream until the consumer stops; a fatal
// error on one stream stops them all.
func (c *Consumer) readAll() error {
	var readers sync.WaitGroup
	errs := make([]error, len(c.cfg.streams))
	c.rooms = make([]chan struct{}, len(c.cfg.streams))
	for i := range c.rooms {
		c.rooms[i] = make(chan struct{}, 1)
	}
	for i, s := range c.cfg.streams {
		readers.Add(1)
		go func() {
			defer readers.Done()
			if err := c.readLoop(s, c.rooms[i]); err != nil {
				errs[i] = err
				c.life.stop()
			}
		}()
	}
	readers.Wait()
	return errors.Join(errs...)
}

// Shutdown stops reading, waits for running handlers to finish and for
// their acknowledgements to be sent, and returns. Entries waiting for a
// retry stay pending, to be resumed by a consumer of the same name or
// taken over by another. If ctx ends first it closes the consumer as
// Close does and returns ctx's error. It is safe to call more than once,
// and before or without Run.
func (c *Consumer) Shutdown(ctx context.Context) error { return c.life.shutdown(ctx) }

// Close stops the consumer at once: the read in progress is abandoned and
// the context of running handlers is canceled. Entries not yet
// acknowledged stay pending in the group, to be resumed by a consumer of
// the same name or taken over by another after ClaimMinIdle. Close does
// not wait; Run returns when the handlers have returned. It is safe to
// call more than once.
func (c *Consumer) Close() error {
	c.life.close()
	return nil
}

// regroup re-creates the group on stream after it disappeared, after
// lastSeen, the last new entry this consumer's reader was handed (see
// regroup in join.go).
func (c *Consumer) regroup(stream, lastSeen string) error {
	return regroup(c.life.readCtx, c.client, c.server, c.group, c.cfg.name, stream, lastSeen, c.cfg.startID, c.log.With("stream", stream))
}

// dispatch holds msgs (all of one stream) and queues them for the
// workers: one job each, or batches of up to BatchSize.
func (c *Consumer) dispatch(msgs []*Message) {
	if len(msgs) == 0 {
		return
	}
	c.held.addAll(msgs) // before a handler starts: no claim may race it
	if c.batches == nil {
		c.queue.pushMessages(msgs)
		return
	}
	for len(msgs) > 0 {
		k := min(len(msgs), c.cfg.batch)
		c.queue.pushBatch(msgs[:k:k])
		msgs = msgs[k:]
	}
}

// work runs one queued job on a worker of the queue. After Close, jobs
// not yet started are left: their entries stay pending.
func (c *Consumer) work(j job) {
	switch {
	case c.life.hard.Err() != nil:
		c.abandon(j)
	case j.batch != nil:
		c.handleBatch(j.batch)
	default:
		c.handleOne(j.m)
	}
}

func (c *Consumer) abandon(j job) {
	msgs := j.batch
	if j.m != nil {
		msgs = []*Message{j.m}
	}
	for _, m := range msgs {
		c.held.remove(m)
	}
	if j.batch != nil {
		c.done(c.slot)
	} else {
		c.done(1)
	}
}

// done gives n units of room back to the readers. A lone reader is woken
// only once it can read (wakeAt): waking it at every entry done, to find
// too little room, cost a goroutine switch per entry.
func (c *Consumer) done(n int) {
	in := c.inHand.Add(-int64(n))
	if len(c.rooms) == 1 && in > c.wakeAt.Load() {
		return
	}
	for _, room := range c.rooms {
		signal(room)
	}
}

// lowWater is how much room makes a read worth its round trip.
func (c *Consumer) lowWater() int { return max(1, min(c.cfg.batch, c.capacity)/2) }

func (c *Consumer) handleOne(m *Message) {
	defer c.done(1)
	if cause := c.calls.overDelivered(m); cause != nil {
		c.deadLetterNow(m, cause)
		return
	}
	ctx, span := c.life.handlers, HandleSpan(nil)
	if c.calls.tracer != nil {
		ctx, span = c.calls.traceOne(ctx, m, "", 0)
	}
	c.inFlight.Add(1)
	took, err := c.calls.one(ctx, c.handler, m)
	c.inFlight.Add(-1)
	c.settle(m, err, took, span, 0)
	if span != nil {
		span.End()
	}
}

func (c *Consumer) handleBatch(msgs []*Message) {
	defer c.done(c.slot)
	run := make([]*Message, 0, len(msgs))
	for _, m := range msgs {
		if cause := c.calls.overDelivered(m); cause != nil {
			c.deadLetterNow(m, cause)
			continue
		}
		run = append(run, m)
	}
	if len(run) == 0 {
		return
	}
	ctx, span := c.life.handlers, HandleSpan(nil)
	if c.calls.tracer != nil {
		ctx, span = c.calls.trace(ctx, run, true, "", 0)
		if span != nil { // a tracer may return none
			defer span.End()
		}
	}
	c.inFlight.Add(int64(len(run)))
	took, err := c.calls.batch(ctx, c.batches, run)
	c.inFlight.Add(-int64(len(run)))
	if pe, ok := err.(*PanicError); ok {
		// One stack for the batch, not one per entry.
		c.log.Warn("redstream: batch handler panicked", "stream", run[0].Stream, "first_id", run[0].ID, "entries", len(run), "err", err, "stack", string(pe.Stack))
		err = stackLogged{err}
	}
	acks := make([]string, 0, len(run))
	for i, m := range run {
		if f := failureOf(err, m); f != nil {
			c.settle(m, f, took, span, i)
			continue
		}
		if span != nil {
			span.Outcome(i, OutcomeAck, nil)
		}
		c.handled.Add(1)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeAck, took)
		acks = append(acks, m.ID)
	}
	c.acker.addAll(run[0].Stream, acks) // held until confirmed, as in settle
}

// deadLetterNow dead-letters an entry delivered more often than allowed
// without an outcome (its earlier consumers died or stalled on it),
// without calling the handler again.
func (c *Consumer) deadLetterNow(m *Message, cause error) {
	c.held.remove(m)
	var span HandleSpan
	if c.calls.tracer != nil { // no handler call, but the trace shows the end
		_, span = c.calls.traceOne(c.life.handlers, m, "", 0)
	}
	if c.toDeadLetter(m, cause) {
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeDeadLetter, 0)
	}
	if span != nil {
		span.Outcome(0, OutcomeDeadLetter, cause)
		span.End()
	}
}

// settle acts on the outcome of m's handler call, and reports it to the
// call's span, if traced, as its i-th entry.
func (c *Consumer) settle(m *Message, err error, took time.Duration, span HandleSpan, i int) {
	outcome := c.calls.outcome(m, err)
	if span != nil {
		span.Outcome(i, outcome, err)
	}
	if outcome == OutcomeAck {
		// Still held until Redis confirms the ack (see acker): a look at
		// the pending list meanwhile must not take it for unhandled.
		c.handled.Add(1)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeAck, took)
		c.acker.add(m.Stream, m.ID)
		return
	}
	c.failed.Add(1)
	if outcome == OutcomeDeadLetter {
		c.held.remove(m)
		if errors.Is(err, ErrPermanent) || errors.Is(err, ErrDecode) {
			c.entryLog(m).Warn("redstream: handler failed permanently; dead-lettering the entry", failAttrs(err)...)
		} else {
			c.entryLog(m).Warn("redstream: handler failed on the last allowed delivery; dead-lettering the entry", failAttrs(err)...)
		}
		c.toDeadLetter(m, err)
		c.cfg.metrics.Handled(m.Stream, c.group, OutcomeDeadLetter, took)
		return
	}
	delay := retryDelay(err, c.cfg.retry, m.Deliveries)
	c.entryLog(m).Warn("redstream: handler failed; will retry", append(failAttrs(err), "retry_in", delay)...)
	c.cfg.metrics.Handled(m.Stream, c.group, OutcomeRetry, took)
	c.retries.schedule(m, delay) // still held while it waits
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
	moved, err := c.deadLetter(c.life.hard, m, cause)
	switch {
	case err != nil:
		c.entryLog(m).Error("redstream: dead-lettering failed; the entry stays pending", "err", err)
		return false
	case moved:
		c.deadLettered.Add(1)
	}
	return moved
}

// wake interrupts the blocked read of stream's reader, so that it turns to
// what became due (a retry).
func (c *Consumer) wake(stream string) {
	c.readersMu.Lock()
	r := c.readers[stream]
	c.readersMu.Unlock()
	if r != nil {
		r.unblock()
	}
}

func (c *Consumer) deadKey(stream string) string { return stream + c.cfg.deadSuffix }
