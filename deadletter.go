package redstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// DefaultDeadLetterSuffix is appended to a stream's key to name its
// dead-letter stream.
const DefaultDeadLetterSuffix = ":dead"

// DeadLetterKey returns the default dead-letter stream of stream:
// "<stream>:dead". A stream key with a hash tag ("{tickets}") shares its
// slot with its dead-letter stream, which Redis Cluster needs to move
// entries between them atomically.
func DeadLetterKey(stream string) string { return stream + DefaultDeadLetterSuffix }

// The fields a dead letter starts with, before the original entry's own.
const (
	DeadFieldID         = "dead.id"         // the entry's ID in its stream
	DeadFieldStream     = "dead.stream"     // the stream it was read from
	DeadFieldGroup      = "dead.group"      // the consumer group
	DeadFieldConsumer   = "dead.consumer"   // the consumer that gave up
	DeadFieldDeliveries = "dead.deliveries" // how often it was delivered
	DeadFieldError      = "dead.error"      // the last handler error
	DeadFieldTime       = "dead.time"       // when, RFC 3339 with nanoseconds
)

var deadFieldNames = []string{DeadFieldID, DeadFieldStream, DeadFieldGroup, DeadFieldConsumer, DeadFieldDeliveries, DeadFieldError, DeadFieldTime}

// ErrPermanent marks a handler error that retrying cannot fix. Return it
// (or an error wrapping it, see Permanent) and the entry goes to the
// dead-letter stream at once instead of being retried.
var ErrPermanent = errors.New("redstream: permanent failure")

// ErrNoEntry reports that an entry ID is not (or no longer) in a stream.
var ErrNoEntry = errors.New("redstream: no such entry")

// Permanent wraps err so that it matches ErrPermanent: the entry goes to
// the dead-letter stream without retries. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() []error { return []error{ErrPermanent, e.err} }

// deadLetterScript moves one pending entry to the dead-letter stream and
// acknowledges it, in one step: nothing is lost or doubled if the process
// dies at any point. An entry no longer pending (someone acknowledged it
// meanwhile) is left alone. The type check comes first because a script
// is not rolled back when a later command fails.
var deadLetterScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[2])
if type(t) == 'table' then t = t['ok'] end
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE dead-letter key ' .. KEYS[2] .. ' holds a ' .. t)
end
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`)

// atomicKeys reports whether a script over keys can run on client: always
// on one server, and on a cluster when the keys share a slot.
func atomicKeys(client rueidis.Client, keys ...string) bool {
	return client.Mode() != rueidis.ClientModeCluster || keyslot.Same(keys...)
}

// deadLetter writes m to its dead-letter stream with why it failed and
// acknowledges it. It reports whether the entry was moved (false when it
// was no longer pending).
func (c *Consumer) deadLetter(ctx context.Context, m *Message, cause error) (bool, error) {
	return deadLetterEntry(ctx, c.client, c.group, c.cfg.name, c.deadKey(m.Stream), m, cause)
}

// deadLetterEntry moves m, pending in group, to the stream dead, recording
// consumer as the one that gave up.
func deadLetterEntry(ctx context.Context, client rueidis.Client, group, consumer, dead string, m *Message, cause error) (bool, error) {
	args := make([]string, 0, 2+2*len(deadFieldNames)+2*(len(m.Headers)+len(m.Fields)))
	args = append(args, group, m.ID,
		DeadFieldID, m.ID,
		DeadFieldStream, m.Stream,
		DeadFieldGroup, group,
		DeadFieldConsumer, consumer,
		DeadFieldDeliveries, strconv.Itoa(m.Deliveries),
		DeadFieldError, errText(cause),
		DeadFieldTime, time.Now().UTC().Format(time.RFC3339Nano),
	)
	for _, f := range joinHeaders(m.Headers, m.Fields) {
		args = append(args, f.Name, f.Value)
	}
	if atomicKeys(client, m.Stream, dead) && fitsScript(len(m.Headers)+len(m.Fields)) {
		n, err := deadLetterScript.Exec(ctx, client, []string{m.Stream, dead}, args).AsInt64()
		if err != nil {
			return false, wrapErr("dead-letter", m.Stream+" -> "+dead, err)
		}
		return n == 1, nil
	}
	// Different cluster slots, or more fields than a script can take:
	// write first, then acknowledge. A crash in between leaves the entry
	// pending, so it may be dead-lettered twice, never lost.
	xadd := client.B().Xadd().Key(dead).Id("*").FieldValue()
	for i := 2; i < len(args); i += 2 {
		xadd = xadd.FieldValue(args[i], args[i+1])
	}
	if err := client.Do(ctx, xadd.Build()).Error(); err != nil {
		return false, wrapErr("dead-letter xadd", dead, err)
	}
	if err := client.Do(ctx, client.B().Xack().Key(m.Stream).Group(group).Id(m.ID).Build()).Error(); err != nil {
		return true, wrapErr("dead-letter xack", m.Stream, err)
	}
	return true, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// DeadLetter is an entry of a dead-letter stream.
type DeadLetter struct {
	ID         string    `json:"id"`          // its ID in the dead-letter stream
	OriginalID string    `json:"original_id"` // its ID in the stream it failed in
	Stream     string    `json:"stream"`
	Group      string    `json:"group"`
	Consumer   string    `json:"consumer"`
	Deliveries int       `json:"deliveries"`
	Error      string    `json:"error"`
	Time       time.Time `json:"time"`
	Fields     []Field   `json:"fields"` // the original entry's fields
	// Headers are the original entry's headers (see HeaderPrefix); a
	// replay writes them back with its fields.
	Headers []Field `json:"headers,omitempty"`
}

// parseDeadLetter reads a dead-letter entry; entries not in the layout
// (written by something else) come back with only ID and Fields.
func parseDeadLetter(e rueidis.XRangeSlice) DeadLetter {
	d := DeadLetter{ID: e.ID}
	fv := e.FieldValues
	if len(fv) < len(deadFieldNames) {
		d.Headers, d.Fields = splitHeaders(toFields(fv))
		return d
	}
	for i, name := range deadFieldNames {
		if fv[i].Field != name {
			d.Headers, d.Fields = splitHeaders(toFields(fv))
			return d
		}
	}
	d.OriginalID = fv[0].Value
	d.Stream = fv[1].Value
	d.Group = fv[2].Value
	d.Consumer = fv[3].Value
	d.Deliveries, _ = strconv.Atoi(fv[4].Value)
	d.Error = fv[5].Value
	d.Time, _ = time.Parse(time.RFC3339Nano, fv[6].Value)
	d.Headers, d.Fields = splitHeaders(toFields(fv[len(deadFieldNames):]))
	return d
}

func toFields(fv []rueidis.XRangeFieldValue) []Field {
	fs := make([]Field, len(fv))
	for i, f := range fv {
		fs[i] = Field{Name: f.Field, Value: f.Value}
	}
	return fs
}

// DeadLetterQueue lists, replays and purges the dead letters of one
// stream. It is safe for concurrent use and never closes the client.
type DeadLetterQueue struct {
	client rueidis.Client
	stream string
	dead   string
}

// NewDeadLetterQueue returns the dead-letter queue of stream, kept in the
// stream deadKey ("" means DeadLetterKey(stream)).
func NewDeadLetterQueue(client rueidis.Client, stream, deadKey string) (*DeadLetterQueue, error) {
	if client == nil || stream == "" {
		return nil, fmt.Errorf("%w: a dead-letter queue needs a client and a stream", ErrInvalidOption)
	}
	if deadKey == "" {
		deadKey = DeadLetterKey(stream)
	}
	return &DeadLetterQueue{client: client, stream: stream, dead: deadKey}, nil
}

// Key returns the dead-letter stream's key.
func (q *DeadLetterQueue) Key() string { return q.dead }

// Len returns how many dead letters there are (0 when the stream does not
// exist).
func (q *DeadLetterQueue) Len(ctx context.Context) (int64, error) {
	n, err := q.client.Do(ctx, q.client.B().Xlen().Key(q.dead).Build()).AsInt64()
	if err != nil {
		return 0, wrapErr("xlen", q.dead, err)
	}
	return n, nil
}

// List returns up to count dead letters with IDs from start to end
// inclusive ("-" and "+" for the ends), oldest first.
func (q *DeadLetterQueue) List(ctx context.Context, start, end string, count int64) ([]DeadLetter, error) {
	if count <= 0 {
		count = 100
	}
	entries, err := asEntries(q.client.Do(ctx, q.client.B().Xrange().Key(q.dead).Start(start).End(end).Count(count).Build()))
	if err != nil {
		return nil, wrapErr("xrange", q.dead, err)
	}
	out := make([]DeadLetter, len(entries))
	for i, e := range entries {
		out[i] = parseDeadLetter(e)
	}
	return out, nil
}

// Get returns one dead letter by its ID in the dead-letter stream, or an
// error matching ErrNoEntry.
func (q *DeadLetterQueue) Get(ctx context.Context, id string) (*DeadLetter, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	l, err := q.List(ctx, id, id, 1)
	if err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, &Error{Op: "dead letter", Key: q.dead + " " + id, Kind: ErrNoEntry}
	}
	return &l[0], nil
}

// replayScript re-publishes one dead letter's original fields to its
// stream and deletes it from the dead-letter stream, in one step.
var replayScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[2])
if type(t) == 'table' then t = t['ok'] end
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE stream ' .. KEYS[2] .. ' holds a ' .. t)
end
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return false end
local id = redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
redis.call('XDEL', KEYS[1], ARGV[1])
return id
`)

// Replay moves the dead letters with the given IDs back to their stream
// as new entries (with their original fields only) and removes them from
// the dead-letter stream; each move is atomic. IDs no longer present are
// skipped. It returns how many were replayed.
func (q *DeadLetterQueue) Replay(ctx context.Context, ids ...string) (int, error) {
	n := 0
	for _, id := range ids {
		d, err := q.Get(ctx, id)
		if errors.Is(err, ErrNoEntry) {
			continue
		}
		if err != nil {
			return n, err
		}
		ok, err := q.replay(ctx, d)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// ReplayRange replays every dead letter with an ID from start to end
// inclusive ("-" and "+" for all), calling progress (if not nil) after
// each page with the number replayed so far.
func (q *DeadLetterQueue) ReplayRange(ctx context.Context, start, end string, progress func(done int)) (int, error) {
	n := 0
	for {
		page, err := q.List(ctx, start, end, 500)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for i := range page {
			ok, err := q.replay(ctx, &page[i])
			if err != nil {
				return n, err
			}
			if ok {
				n++
			}
		}
		if progress != nil {
			progress(n)
		}
		start = nextID(page[len(page)-1].ID)
	}
}

func (q *DeadLetterQueue) replay(ctx context.Context, d *DeadLetter) (bool, error) {
	target := d.Stream
	if target == "" {
		target = q.stream
	}
	if len(d.Fields) == 0 && len(d.Headers) == 0 {
		return false, &Error{Op: "replay", Key: q.dead + " " + d.ID, Kind: ErrNoFields}
	}
	args := make([]string, 0, 1+2*(len(d.Headers)+len(d.Fields)))
	args = append(args, d.ID)
	for _, f := range joinHeaders(d.Headers, d.Fields) {
		args = append(args, f.Name, f.Value)
	}
	if atomicKeys(q.client, q.dead, target) && fitsScript(len(d.Headers)+len(d.Fields)) {
		err := replayScript.Exec(ctx, q.client, []string{q.dead, target}, args).Error()
		if rueidis.IsRedisNil(err) {
			return false, nil // replayed or purged by someone else meanwhile
		}
		if err != nil {
			return false, wrapErr("replay", q.dead+" -> "+target, err)
		}
		return true, nil
	}
	// Different cluster slots, or more fields than a script can take:
	// publish first, then delete. A crash in between replays the letter
	// twice, never loses it.
	xadd := q.client.B().Xadd().Key(target).Id("*").FieldValue()
	for i := 1; i < len(args); i += 2 {
		xadd = xadd.FieldValue(args[i], args[i+1])
	}
	if err := q.client.Do(ctx, xadd.Build()).Error(); err != nil {
		return false, wrapErr("replay xadd", target, err)
	}
	if err := q.client.Do(ctx, q.client.B().Xdel().Key(q.dead).Id(d.ID).Build()).Error(); err != nil {
		return true, wrapErr("replay xdel", q.dead, err)
	}
	return true, nil
}

// Purge deletes the dead letters with the given IDs and returns how many
// existed.
func (q *DeadLetterQueue) Purge(ctx context.Context, ids ...string) (int64, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := q.client.Do(ctx, q.client.B().Xdel().Key(q.dead).Id(ids...).Build()).AsInt64()
	if err != nil {
		return 0, wrapErr("xdel", q.dead, err)
	}
	return n, nil
}

// PurgeAll deletes the whole dead-letter stream and returns how many
// dead letters it held.
func (q *DeadLetterQueue) PurgeAll(ctx context.Context) (int64, error) {
	n, err := q.Len(ctx)
	if err != nil {
		return 0, err
	}
	if err := q.client.Do(ctx, q.client.B().Del().Key(q.dead).Build()).Error(); err != nil {
		return 0, wrapErr("del", q.dead, err)
	}
	return n, nil
}
