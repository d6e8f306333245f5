package redstream

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// DefaultDedupeWindow is how long a Publisher remembers an entry's MsgID
// unless DedupeWindow says otherwise.
const DefaultDedupeWindow = 10 * time.Minute

// Bounds of DedupeWindow: a marker lives at least a millisecond (PX
// cannot be 0), and at most a week, since every MsgID published within
// the window holds a key until it ends.
const (
	minDedupeWindow = time.Millisecond
	maxDedupeWindow = 7 * 24 * time.Hour
)

// Bounds of an entry with a MsgID: the ID is part of a key, and the
// script that writes the entry passes its fields to XADD as one argument
// list, which Redis' Lua caps at about 8000 values.
const (
	maxMsgIDLen    = 1024
	maxDedupFields = 3900
)

// DedupeWindow sets how long a MsgID is remembered: an entry published
// with the MsgID of one written to the same stream less than d ago is not
// written again (see PublishEntry). d must be between 1ms and 168h (a
// week); the default is DefaultDedupeWindow. Each MsgID costs a small key
// in Redis for d.
func DedupeWindow(d time.Duration) PublisherOption {
	return func(p *Publisher) error {
		if d < minDedupeWindow || d > maxDedupeWindow {
			return fmt.Errorf("%w: DedupeWindow must be between %v and %v, got %v", ErrInvalidOption, minDedupeWindow, maxDedupeWindow, d)
		}
		p.dedupe = d
		return nil
	}
}

// Receipt says what became of one entry of PublishEntry or
// PublishEntries.
type Receipt struct {
	// ID is the entry's ID in its stream: for a duplicate, the ID of the
	// entry first written with its MsgID.
	ID string
	// Duplicate reports that an entry with the same MsgID was written to
	// the stream within the dedupe window, so nothing was written now.
	Duplicate bool
}

// PublishEntry appends e to e.Stream like Publish, and reports what it
// did. An entry with a MsgID is written at most once per dedupe window
// (DedupeWindow, default 10 minutes): if an entry with the same MsgID was
// written to the same stream within the window, nothing is written and
// the receipt carries the first entry's ID with Duplicate set. Checking
// for the MsgID, writing the entry and remembering the MsgID are one Lua
// script, so a publisher that retries after an error or a lost reply,
// with the same MsgID, leaves exactly one entry however often it tries.
// The MsgID is remembered in a key beside the stream, in its hash slot
// (see the README's layout); a stream whose name holds a "}" but no hash
// tag has no such key, and an entry with a MsgID fails with
// ErrInvalidOption there. An entry without MsgID is published as Publish
// does, coalesced with concurrent calls. Errors are as for Publish.
func (p *Publisher) PublishEntry(ctx context.Context, e Entry) (Receipt, error) {
	if p.tracer == nil {
		return p.publishEntry(ctx, e)
	}
	call := PublishCall{Entries: []Entry{handHeaders(e)}}
	done := p.tracer.TracePublish(ctx, &call)
	rc, err := p.publishEntry(ctx, call.Entries[0])
	if done != nil {
		done([]string{rc.ID}, err)
	}
	return rc, err
}

// publishEntry is PublishEntry without tracing.
func (p *Publisher) publishEntry(ctx context.Context, e Entry) (Receipt, error) {
	if e.MsgID == "" {
		if len(e.Fields) == 0 {
			return Receipt{}, p.noFields(e)
		}
		id, err := p.publish(ctx, e.Stream, e.Headers, e.Fields)
		return Receipt{ID: id}, err
	}
	keys, args, err := p.dedupeArgs(e)
	if err != nil {
		return Receipt{}, err
	}
	rc, err := receiptOf(publishOnceScript.Exec(ctx, p.client, keys, args), true)
	if err != nil {
		err = wrapErr("xadd", e.Stream, err)
		p.metrics.Published(e.Stream, 1, err)
		return Receipt{}, err
	}
	if !rc.Duplicate {
		p.metrics.Published(e.Stream, 1, nil)
	}
	return rc, nil
}

// PublishEntries is PublishBatch with a Receipt for each entry: entries
// with a MsgID are written at most once per dedupe window, as
// PublishEntry says, each on its own; the others are appended as
// PublishBatch does. Entries to one stream keep their relative order. If
// some entries fail, their receipts are empty and the error is a
// *BatchError; retrying the whole batch with the same MsgIDs then writes
// only what is missing. An invalid entry fails the call before anything
// is sent.
func (p *Publisher) PublishEntries(ctx context.Context, entries []Entry) ([]Receipt, error) {
	return p.publishEntriesTraced(ctx, PublishCall{Entries: entries})
}

// publishEntriesTraced publishes call's entries as PublishEntries does,
// through the publish tracer if there is one.
func (p *Publisher) publishEntriesTraced(ctx context.Context, call PublishCall) ([]Receipt, error) {
	if len(call.Entries) == 0 {
		return nil, nil
	}
	if p.tracer == nil {
		return p.publishEntries(ctx, call.Entries)
	}
	call.Entries = append([]Entry(nil), call.Entries...)
	handHeadersAll(call.Entries)
	done := p.tracer.TracePublish(ctx, &call)
	receipts, err := p.publishEntries(ctx, call.Entries)
	if done != nil {
		done(receiptIDs(receipts), err)
	}
	return receipts, err
}

// receiptIDs returns the receipts' IDs.
func receiptIDs(receipts []Receipt) []string {
	if receipts == nil {
		return nil
	}
	ids := make([]string, len(receipts))
	for i, r := range receipts {
		ids[i] = r.ID
	}
	return ids
}

// publishEntries is PublishEntries without tracing.
func (p *Publisher) publishEntries(ctx context.Context, entries []Entry) ([]Receipt, error) {
	// Build (and so check) every command before sending any.
	all := make(rueidis.Commands, len(entries))
	for i, e := range entries {
		cmd, err := p.entryCmd(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		all[i] = cmd
	}
	receipts := make([]Receipt, len(entries))
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(entries))
		}
		errs[i] = wrapErr("xadd", entries[i].Stream, err)
	}
	for start := 0; start < len(entries) && ctx.Err() == nil; start += batchChunk {
		end := min(start+batchChunk, len(entries))
		for i, r := range p.client.DoMulti(ctx, all[start:end]...) {
			j := start + i
			rc, err := receiptOf(r, entries[j].MsgID != "")
			if err != nil {
				fail(j, err)
				p.metrics.Published(entries[j].Stream, 1, errs[j])
				continue
			}
			receipts[j] = rc
			if !rc.Duplicate {
				p.metrics.Published(entries[j].Stream, 1, nil)
			}
		}
	}
	for i := range receipts { // entries never sent because ctx ended
		if receipts[i].ID == "" && (errs == nil || errs[i] == nil) {
			fail(i, ctx.Err())
		}
	}
	if errs != nil {
		return receipts, &BatchError{Errs: errs}
	}
	return receipts, nil
}

// publishBatchOnce is PublishBatch for a batch with MsgIDs.
func (p *Publisher) publishBatchOnce(ctx context.Context, entries []Entry) ([]string, error) {
	receipts, err := p.publishEntries(ctx, entries)
	return receiptIDs(receipts), err
}

// hasMsgID reports whether any entry has a MsgID.
func hasMsgID(entries []Entry) bool {
	for i := range entries {
		if entries[i].MsgID != "" {
			return true
		}
	}
	return false
}

// publishOnceLua writes an entry unless its MsgID's marker exists, and
// sets the marker with the entry's ID when it writes, atomically: the
// marker never exists without its entry, nor the entry (within the
// window) without its marker. KEYS[1] is the stream, KEYS[2] the marker
// (in the stream's slot); ARGV[1] the window in milliseconds, ARGV[2] the
// trim option ("", "MAXLEN" or "MINID") and ARGV[3] its threshold,
// ARGV[4...] the field/value pairs. It returns {id, 1} for a duplicate
// and {id, 0} for a new entry; an XADD error (a key of another type)
// aborts it before the marker is set.
const publishOnceLua = `local id = redis.call('GET', KEYS[2])
if id then return {id, 1} end
local a = {'XADD', KEYS[1]}
if ARGV[2] ~= '' then a[3] = ARGV[2]; a[4] = '~'; a[5] = ARGV[3] end
a[#a + 1] = '*'
for i = 4, #ARGV do a[#a + 1] = ARGV[i] end
id = redis.call(unpack(a))
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {id, 0}`

var publishOnceScript = rueidis.NewLuaScript(publishOnceLua)

// entryCmd builds the command that publishes e: a plain XADD, or for an
// entry with a MsgID the script, sent as EVAL with its text so that a
// server that lost its script cache (a restart) cannot fail some commands
// of a pipeline with NOSCRIPT while later ones, to the same stream, are
// written, which would break the batch's order.
func (p *Publisher) entryCmd(e Entry) (rueidis.Completed, error) {
	if len(e.Fields) == 0 {
		return rueidis.Completed{}, p.noFields(e)
	}
	if e.MsgID == "" {
		return p.xadd(e.Stream, e.Headers, e.Fields)
	}
	keys, args, err := p.dedupeArgs(e)
	if err != nil {
		return rueidis.Completed{}, err
	}
	return p.client.B().Eval().Script(publishOnceLua).Numkeys(2).Key(keys...).Arg(args...).Build(), nil
}

// noFields is the error for an entry without fields (headers alone do
// not make an entry).
func (p *Publisher) noFields(e Entry) error {
	if e.Stream == "" {
		return &Error{Op: "xadd", Kind: ErrInvalidOption, Err: errEmptyStream}
	}
	return &Error{Op: "xadd", Key: e.Stream, Kind: ErrNoFields}
}

var (
	errMsgIDTooLong = fmt.Errorf("a MsgID is at most %d bytes", maxMsgIDLen)
	errDedupFields  = fmt.Errorf("an entry with a MsgID holds at most %d fields", maxDedupFields)
	errDedupHeaders = fmt.Errorf("an entry with a MsgID holds at most %d headers", maxScriptHeaders)
)

// dedupeArgs checks e, which has a MsgID, and returns the keys and
// arguments of publishOnceLua for it.
func (p *Publisher) dedupeArgs(e Entry) (keys, args []string, err error) {
	switch {
	case e.Stream == "":
		return nil, nil, &Error{Op: "xadd", Kind: ErrInvalidOption, Err: errEmptyStream}
	case len(e.Fields) == 0:
		return nil, nil, &Error{Op: "xadd", Key: e.Stream, Kind: ErrNoFields}
	case len(e.MsgID) > maxMsgIDLen:
		return nil, nil, &Error{Op: "xadd", Key: e.Stream, Kind: ErrInvalidOption, Err: errMsgIDTooLong}
	case len(e.Fields) > maxDedupFields:
		return nil, nil, &Error{Op: "xadd", Key: e.Stream, Kind: ErrInvalidOption, Err: errDedupFields}
	}
	marker := msgIDKey(e.Stream, e.MsgID)
	window := p.dedupe
	if window == 0 {
		window = DefaultDedupeWindow
	}
	if len(e.Headers) > maxScriptHeaders {
		return nil, nil, &Error{Op: "xadd", Key: e.Stream, Kind: ErrInvalidOption, Err: errDedupHeaders}
	}
	fields := joinHeaders(e.Headers, e.Fields)
	args = make([]string, 3, 3+2*len(fields))
	args[0] = strconv.FormatInt(window.Milliseconds(), 10)
	switch {
	case p.maxLen > 0:
		args[1], args[2] = "MAXLEN", strconv.FormatInt(p.maxLen, 10)
	case p.maxAge > 0:
		args[1], args[2] = "MINID", strconv.FormatInt(p.now().Add(-p.maxAge).UnixMilli(), 10)
	}
	for _, f := range fields {
		args = append(args, f.Name, f.Value)
	}
	return []string{e.Stream, marker}, args, nil
}

// msgIDKey returns the key that remembers msgID for stream, in the
// stream's hash slot: "{<tag>}:msgid:<len>:<stream>:<msgID>", the tag
// as for the scheduled keys (slotTag), then the stream's whole name after
// its length, so that no two streams ("S" and "{S}", or names with ":")
// ever share a marker.
func msgIDKey(stream, msgID string) string {
	return "{" + slotTag(stream) + "}:msgid:" + strconv.Itoa(len(stream)) + ":" + stream + ":" + msgID
}

// receiptOf reads the reply to an entry's command: the script's {id,
// duplicate} when once, else XADD's ID.
func receiptOf(r rueidis.RedisResult, once bool) (Receipt, error) {
	if !once {
		id, err := r.ToString()
		return Receipt{ID: id}, err
	}
	arr, err := r.ToArray()
	if err != nil {
		return Receipt{}, err
	}
	if len(arr) != 2 {
		return Receipt{}, fmt.Errorf("redstream: unexpected reply to the publish script: %d elements", len(arr))
	}
	id, err := arr[0].ToString()
	if err != nil {
		return Receipt{}, err
	}
	dup, err := arr[1].AsInt64()
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{ID: id, Duplicate: dup == 1}, nil
}
