package redstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// batchChunk is how many XADDs PublishBatch sends in one pipeline.
const batchChunk = 1024

// Publisher appends entries to streams with XADD. It is safe for
// concurrent use: Publish calls from many goroutines are sent together,
// many in one pipeline, so they share round trips instead of waiting for
// one each (see Publish). A Publisher needs no closing: the goroutine that
// sends queued calls ends when none are left. It does not close the
// client.
type Publisher struct {
	client  rueidis.Client
	maxLen  int64
	maxAge  time.Duration
	now     func() time.Time
	metrics Metrics
	tracer  PublishTracer // nil unless metrics implements it
	dedupe  time.Duration // how long a MsgID is remembered; 0: DefaultDedupeWindow

	// Publish's sends go through one coalescer, or on a cluster through
	// one per hash slot (uint16 -> *coalescer), so that a slow or failing
	// master holds up only publishes to its own slots.
	out   *coalescer
	slots sync.Map
}

// Bounds of the retention options: no Redis holds 10^12 entries in one
// stream, and an age beyond ten years would reach back before 1970, where
// entry IDs cannot go.
const (
	maxMaxLen = 1_000_000_000_000
	maxMaxAge = 10 * 365 * 24 * time.Hour
)

// PublisherOption configures a Publisher.
type PublisherOption func(*Publisher) error

// MaxLen trims each stream written to approximately n entries (XADD
// MAXLEN ~ n): Redis removes whole macro nodes of the oldest entries, so a
// stream may hold somewhat more than n. Trimming removes entries whether
// or not every group has read them; size n for the longest consumer
// outage you must survive. n must be between 1 and 10^12. The default is
// no trimming.
func MaxLen(n int64) PublisherOption {
	return func(p *Publisher) error {
		if n < 1 || n > maxMaxLen {
			return fmt.Errorf("%w: MaxLen must be between 1 and %d, got %d", ErrInvalidOption, int64(maxMaxLen), n)
		}
		p.maxLen = n
		return nil
	}
}

// MaxAge trims entries older than d from each stream written to (XADD
// MINID ~ now-d), approximately, as MaxLen does. Trimming removes entries
// whether or not every group has read them. The age is measured on the
// publisher's clock against IDs made by the server's, so d must be at
// least a minute: far longer than any sane clock skew, which could
// otherwise trim the entry being written; and at most ten years (87600h),
// so that now-d stays a valid entry ID. The default is no trimming.
func MaxAge(d time.Duration) PublisherOption {
	return func(p *Publisher) error {
		if d < time.Minute || d > maxMaxAge {
			return fmt.Errorf("%w: MaxAge must be between 1m and %v, got %v", ErrInvalidOption, maxMaxAge, d)
		}
		p.maxAge = d
		return nil
	}
}

// WithPublishMetrics reports each publish to m (Metrics.Published), and
// traces each publish call if m is also a PublishTracer. The
// default reports nothing.
func WithPublishMetrics(m Metrics) PublisherOption {
	return func(p *Publisher) error {
		if m == nil {
			return fmt.Errorf("%w: nil metrics", ErrInvalidOption)
		}
		p.metrics = m
		return nil
	}
}

// NewPublisher returns a Publisher that writes through client. Without
// options it never trims: entries stay until something else removes them.
func NewPublisher(client rueidis.Client, opts ...PublisherOption) (*Publisher, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	p := &Publisher{client: client, now: time.Now, metrics: NopMetrics{}}
	if client.Mode() != rueidis.ClientModeCluster {
		p.out = newCoalescer(client)
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	if p.maxLen > 0 && p.maxAge > 0 {
		return nil, fmt.Errorf("%w: MaxLen and MaxAge cannot be combined", ErrInvalidOption)
	}
	p.tracer, _ = tracersOf(p.metrics)
	return p, nil
}

// Publish appends one entry with the given fields, in order, to stream
// and returns the ID Redis assigned. The stream is created if missing.
// It returns an error matching ErrNoFields for an empty entry,
// ErrNotStream when the key holds another type, and ErrUnreachable when
// the server cannot be reached; ctx bounds the wait.
//
// Concurrent calls are coalesced: a call is sent at once unless a
// pipeline of queued calls is in flight, or eight calls are (or calls
// wait already); then it queues, and all the calls that queued go to
// Redis together in one pipeline as soon as a send ends, each with its
// own ID or error. No timer is involved, so at light load a call does not
// wait for company, and under load one round trip carries all that
// arrived during the last. At most 1024 calls wait; more block until
// there is room. If ctx ends while
// the entry waits to be sent, it is never sent, and Publish returns ctx's
// error. If ctx ends after the entry was sent, Publish returns ctx's
// error too, but the entry may have been written, as with any command
// whose reply is not awaited. On Redis Cluster calls are coalesced per
// hash slot, so a slow master delays only entries for its own slots.
func (p *Publisher) Publish(ctx context.Context, stream string, fields []Field) (string, error) {
	if p.tracer == nil {
		return p.publish(ctx, stream, nil, fields)
	}
	call := PublishCall{Entries: []Entry{handHeaders(Entry{Stream: stream, Fields: fields})}}
	done := p.tracer.TracePublish(ctx, &call)
	var id string
	var err error
	if e := call.Entries[0]; len(fields) == 0 {
		err = p.noFields(e) // the tracer's headers do not make an entry
	} else {
		id, err = p.publish(ctx, stream, e.Headers, e.Fields)
	}
	if done != nil {
		done([]string{id}, err)
	}
	return id, err
}

// publish is Publish without tracing of an entry of headers and fields
// (fields may hold headers written by hand).
func (p *Publisher) publish(ctx context.Context, stream string, headers, fields []Field) (string, error) {
	cmd, err := p.xadd(stream, headers, fields)
	if err != nil {
		return "", err
	}
	id, err := p.coalescer(cmd).send(ctx, cmd)
	if err != nil {
		err = wrapErr("xadd", stream, err)
		p.metrics.Published(stream, 1, err)
		return "", err
	}
	p.metrics.Published(stream, 1, nil)
	return id, nil
}

// coalescer returns the coalescer that sends cmd.
func (p *Publisher) coalescer(cmd rueidis.Completed) *coalescer {
	if p.out != nil {
		return p.out
	}
	c, ok := p.slots.Load(cmd.Slot())
	if !ok {
		c, _ = p.slots.LoadOrStore(cmd.Slot(), newCoalescer(p.client))
	}
	return c.(*coalescer)
}

// Entry is one entry for PublishBatch.
type Entry struct {
	Stream string
	Fields []Field
	// Headers are written with the entry, before its fields, each as the
	// field HeaderPrefix+Name (see HeaderPrefix).
	Headers []Field
	// MsgID, when not empty, is the producer's ID for the entry: within
	// the dedupe window (DedupeWindow) an entry with the MsgID of one
	// already written to the stream is not written again, and the first
	// one's ID is returned instead (see PublishEntry).
	MsgID string
}

// BatchError reports the entries of a PublishBatch call that failed. Errs
// has one element per entry, nil for those that were written.
type BatchError struct {
	Errs []error
}

// Error summarises how many entries failed and the first failure.
func (e *BatchError) Error() string {
	n, first := 0, error(nil)
	for _, err := range e.Errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	return fmt.Sprintf("redstream: publish batch: %d of %d entries failed, first: %v", n, len(e.Errs), first)
}

// Unwrap returns the individual failures, so errors.Is finds a sentinel
// if any entry failed with it.
func (e *BatchError) Unwrap() []error {
	var errs []error
	for _, err := range e.Errs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// PublishBatch appends many entries, possibly to different streams, in
// pipelines of up to 1024 commands, and returns their IDs in order. Entries
// to one stream keep their relative order. If some entries fail, the
// returned IDs are "" for those, and the error is a *BatchError. An
// invalid entry (no fields) fails the call before anything is sent.
// Entries with a MsgID are written at most once per dedupe window, and a
// duplicate's ID is the first entry's (PublishEntries also says which
// were duplicates).
func (p *Publisher) PublishBatch(ctx context.Context, entries []Entry) ([]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	if p.tracer == nil {
		return p.publishBatch(ctx, entries)
	}
	call := PublishCall{Entries: append([]Entry(nil), entries...)}
	handHeadersAll(call.Entries)
	done := p.tracer.TracePublish(ctx, &call)
	ids, err := p.publishBatch(ctx, call.Entries)
	if done != nil {
		done(ids, err)
	}
	return ids, err
}

// publishBatch is PublishBatch without tracing.
func (p *Publisher) publishBatch(ctx context.Context, entries []Entry) ([]string, error) {
	if hasMsgID(entries) {
		return p.publishBatchOnce(ctx, entries)
	}
	// Build (and so check) every command before sending any: an invalid
	// entry must not leave the batch half written.
	all := make(rueidis.Commands, len(entries))
	for i, e := range entries {
		cmd, err := p.entryCmd(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		all[i] = cmd
	}
	ids := make([]string, len(entries))
	var errs []error
	for start := 0; start < len(entries) && ctx.Err() == nil; start += batchChunk {
		end := min(start+batchChunk, len(entries))
		for i, r := range p.client.DoMulti(ctx, all[start:end]...) {
			id, err := r.ToString()
			if err != nil {
				if errs == nil {
					errs = make([]error, len(entries))
				}
				errs[start+i] = wrapErr("xadd", entries[start+i].Stream, err)
				p.metrics.Published(entries[start+i].Stream, 1, errs[start+i])
				continue
			}
			ids[start+i] = id
			p.metrics.Published(entries[start+i].Stream, 1, nil)
		}
	}
	for i := range ids { // entries never sent because ctx ended
		if ids[i] == "" && (errs == nil || errs[i] == nil) {
			if errs == nil {
				errs = make([]error, len(entries))
			}
			errs[i] = wrapErr("xadd", entries[i].Stream, ctx.Err())
		}
	}
	if errs != nil {
		return ids, &BatchError{Errs: errs}
	}
	return ids, nil
}

var errEmptyStream = errors.New("empty stream name")

// xadd builds the XADD of an entry: its headers, each as the field
// HeaderPrefix+Name, then its fields, written straight into the command
// (joinHeaders would build the same list in a slice of its own first).
func (p *Publisher) xadd(stream string, headers, fields []Field) (rueidis.Completed, error) {
	if stream == "" {
		return rueidis.Completed{}, &Error{Op: "xadd", Kind: ErrInvalidOption, Err: errEmptyStream}
	}
	if len(headers)+len(fields) == 0 {
		return rueidis.Completed{}, &Error{Op: "xadd", Key: stream, Kind: ErrNoFields}
	}
	key := p.client.B().Xadd().Key(stream)
	switch {
	case p.maxLen > 0:
		return withFields(key.Maxlen().Almost().Threshold(strconv.FormatInt(p.maxLen, 10)).Id("*").FieldValue(), headers, fields), nil
	case p.maxAge > 0:
		minID := strconv.FormatInt(p.now().Add(-p.maxAge).UnixMilli(), 10)
		return withFields(key.Minid().Almost().Threshold(minID).Id("*").FieldValue(), headers, fields), nil
	default:
		return withFields(key.Id("*").FieldValue(), headers, fields), nil
	}
}

// fieldAdder is the part of rueidis' XADD builder that takes field/value
// pairs; naming it lets one helper serve every trimming variant.
type fieldAdder[B any] interface {
	FieldValue(field, value string) B
	Build() rueidis.Completed
}

// withFields adds headers, named with HeaderPrefix, then fields to b and
// builds the command.
func withFields[B fieldAdder[B]](b B, headers, fields []Field) rueidis.Completed {
	for _, h := range headers {
		b = b.FieldValue(headerField(h.Name), h.Value)
	}
	for _, f := range fields {
		b = b.FieldValue(f.Name, f.Value)
	}
	return b.Build()
}
