package redstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// Scheduled entries wait in Redis, beside their stream and in its hash
// slot, until they are due; consumers of the stream then move them in
// (scheduler.go). Layout, for a stream S whose slot's tag is T:
//
//   - "{T}:scheduled:S", a sorted set: one member per waiting entry, its
//     scheduled ID (16 hex digits, increasing in the order entries were
//     scheduled), scored by the due time in Unix milliseconds;
//   - "{T}:scheduled-fields:S", a hash: each scheduled ID's fields (and
//     the publisher's trimming), and "seq", the last ID given out.
//
// T is S's own hash tag when it has one ("{orders}" and
// "orders:3{orders:3:7}" give "orders" and "orders:3:7"), S itself when
// it holds no "}" (such a key hashes its whole name), and otherwise the
// first of "redstream:slot:0", "redstream:slot:1", ... that hashes to S's
// slot. The stream's name follows the tag whole, so no two streams share
// a key.

// ScheduledKey returns the sorted set in which stream's scheduled
// entries wait, by due time: "{T}:scheduled:<stream>", where T is the
// stream's hash tag, or the stream's name when it holds no "}", so that
// it shares the stream's hash slot (README, "Scheduled entries").
func ScheduledKey(stream string) string { return "{" + slotTag(stream) + "}:scheduled:" + stream }

// scheduledFieldsKey returns the hash holding the fields of stream's
// scheduled entries.
func scheduledFieldsKey(stream string) string {
	return "{" + slotTag(stream) + "}:scheduled-fields:" + stream
}

// slotTags caches the tags found for streams with braces but no hash tag:
// slot -> tag.
var slotTags sync.Map

// slotTag returns a hash tag without "}" that hashes to stream's slot.
func slotTag(stream string) string {
	if tag, ok := keyslot.Tag(stream); ok {
		return tag
	}
	if !strings.Contains(stream, "}") {
		return stream
	}
	slot := keyslot.Of(stream)
	if t, ok := slotTags.Load(slot); ok {
		return t.(string)
	}
	for k := 0; ; k++ {
		tag := "redstream:slot:" + strconv.Itoa(k)
		if keyslot.Of(tag) == slot {
			slotTags.Store(slot, tag)
			return tag
		}
	}
}

// maxScheduleAhead bounds how far ahead an entry may be scheduled.
const maxScheduleAhead = maxMaxAge

// ScheduledEntry is one entry for PublishBatchAt: its stream, its fields
// and when it is due, at At if At is set, else In after Redis receives
// it (In 0: at once). Setting both is an error.
type ScheduledEntry struct {
	Stream string
	Fields []Field
	At     time.Time
	In     time.Duration
	// Headers are written with the entry when it is appended, as
	// Entry.Headers are.
	Headers []Field
}

// ScheduledMessage is an entry waiting to be moved into its stream
// (Inspector.Scheduled).
type ScheduledMessage struct {
	ID     string    `json:"id"` // the scheduled ID PublishAt returned
	Stream string    `json:"stream"`
	Due    time.Time `json:"due"`
	Fields []Field   `json:"fields"`
	// Headers are the entry's headers (see HeaderPrefix).
	Headers []Field `json:"headers,omitempty"`
}

// Value returns the value of the first field named name, or "".
func (m ScheduledMessage) Value(name string) string {
	for _, f := range m.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// PublishIn schedules an entry with fields for stream, to be appended d
// from now, and returns its scheduled ID (not a stream entry ID: the
// entry gets that when it is moved), by which Cancel and
// Inspector.Scheduled know it. "Now" is the Redis server's clock. See
// PublishAt for where the entry waits and how it arrives. d must be
// between 0 and ten years; 0 makes it due at once.
func (p *Publisher) PublishIn(ctx context.Context, stream string, d time.Duration, fields []Field) (string, error) {
	ids, err := p.scheduleTraced(ctx, []ScheduledEntry{{Stream: stream, Fields: fields, In: d}}, "", nil)
	return first(ids, err)
}

// PublishAt schedules an entry with fields for stream, to be appended at
// t, and returns its scheduled ID. The entry waits in Redis, in keys in
// the stream's hash slot (ScheduledKey), until a consumer of the stream
// (Consumer or TopicConsumer) moves it in, within about 100 ms of t on
// the server's clock: one Lua script appends it and removes it from the
// waiting set, so it arrives exactly once whatever number of consumers
// race to move it, and a crash at any point loses nothing. While no
// consumer runs, entries wait. A t in the past makes the entry due at
// once; t is compared with the Redis server's clock. The publisher's
// trimming (MaxLen, MaxAge) applies when the entry is appended. Entries
// due at the same millisecond arrive in the order they were scheduled.
// Errors are as for Publish: ErrNoFields, ErrNotStream when the stream's
// key holds another type, ErrInvalidOption for a zero t or one beyond
// ten years from now.
func (p *Publisher) PublishAt(ctx context.Context, stream string, t time.Time, fields []Field) (string, error) {
	if t.IsZero() {
		return "", fmt.Errorf("%w: PublishAt needs a due time, got the zero time", ErrInvalidOption)
	}
	ids, err := p.scheduleTraced(ctx, []ScheduledEntry{{Stream: stream, Fields: fields, At: t}}, "", nil)
	return first(ids, err)
}

func first(ids []string, err error) (string, error) {
	var be *BatchError
	if errors.As(err, &be) && len(be.Errs) == 1 {
		return "", be.Errs[0]
	}
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// PublishBatchAt schedules many entries, possibly for different streams,
// each due at its own time (ScheduledEntry), and returns their scheduled
// IDs in order. Entries of one stream are scheduled in their order, so
// those due at the same millisecond arrive in that order. An invalid entry
// fails the call before anything is sent. If some entries fail, their
// IDs are "" and the error is a *BatchError, as for PublishBatch.
func (p *Publisher) PublishBatchAt(ctx context.Context, entries []ScheduledEntry) ([]string, error) {
	return p.scheduleTraced(ctx, entries, "", nil)
}

// scheduleTraced is schedule through the publish tracer, if there is
// one; topic and parts are those of a topic's events.
func (p *Publisher) scheduleTraced(ctx context.Context, entries []ScheduledEntry, topic string, parts []int) ([]string, error) {
	if p.tracer == nil || len(entries) == 0 {
		return p.schedule(ctx, entries)
	}
	call := PublishCall{Entries: make([]Entry, len(entries)), Topic: topic, Partitions: parts, Scheduled: true}
	for i, e := range entries {
		call.Entries[i] = handHeaders(Entry{Stream: e.Stream, Fields: e.Fields, Headers: e.Headers})
	}
	done := p.tracer.TracePublish(ctx, &call)
	traced := append([]ScheduledEntry(nil), entries...)
	for i := range traced {
		traced[i].Headers, traced[i].Fields = call.Entries[i].Headers, call.Entries[i].Fields
	}
	ids, err := p.schedule(ctx, traced)
	if done != nil {
		done(ids, err)
	}
	return ids, err
}

// PublishTopicAt schedules events for their partitions of t, as
// PublishTopic would publish them, each appended to its key's partition
// at at. Events of one key due at the same time arrive in the order given.
// The receipts' IDs are scheduled IDs: cancel one with
// Cancel(ctx, t.Stream(r.Partition), r.ID). The partition's consumers
// move them (see PublishAt). An event with a MsgID is refused
// (ErrInvalidOption): scheduled entries are not de-duplicated.
func (p *Publisher) PublishTopicAt(ctx context.Context, t *Topic, at time.Time, events ...KeyedEntry) ([]TopicReceipt, error) {
	if at.IsZero() {
		return nil, fmt.Errorf("%w: PublishTopicAt needs a due time, got the zero time", ErrInvalidOption)
	}
	return p.scheduleTopic(ctx, t, events, func(e *ScheduledEntry) { e.At = at })
}

// PublishTopicIn is PublishTopicAt at d from now (the server's clock).
func (p *Publisher) PublishTopicIn(ctx context.Context, t *Topic, d time.Duration, events ...KeyedEntry) ([]TopicReceipt, error) {
	return p.scheduleTopic(ctx, t, events, func(e *ScheduledEntry) { e.In = d })
}

func (p *Publisher) scheduleTopic(ctx context.Context, t *Topic, events []KeyedEntry, when func(*ScheduledEntry)) ([]TopicReceipt, error) {
	entries := make([]ScheduledEntry, len(events))
	receipts := make([]TopicReceipt, len(events))
	parts := make([]int, len(events))
	for i, e := range events {
		if e.MsgID != "" {
			// Scheduled entries are not de-duplicated: refuse rather than
			// drop the MsgID and let a retry schedule the event twice.
			return nil, fmt.Errorf("event %d: %w", i, &Error{Op: "schedule", Key: t.Name, Kind: ErrInvalidOption,
				Err: errors.New("a scheduled event cannot carry a MsgID: scheduled entries are not de-duplicated")})
		}
		part := t.Partition(e.Key)
		entries[i] = ScheduledEntry{Stream: t.Stream(part), Fields: keyed(e), Headers: e.Headers}
		when(&entries[i])
		receipts[i].Partition = part
		parts[i] = part
	}
	ids, err := p.scheduleTraced(ctx, entries, t.Name, parts)
	for i := range ids {
		receipts[i].ID = ids[i]
	}
	return receipts, err
}

// Cancel removes the scheduled entry id of stream before it is moved in,
// so it never arrives. It returns an error matching ErrNoEntry when the
// entry is not waiting: already moved into the stream, cancelled, or
// never scheduled.
func (p *Publisher) Cancel(ctx context.Context, stream, id string) error {
	return cancelScheduled(ctx, p.client, stream, id)
}

// scheduleChunk is how many entries of one stream one script call takes.
const scheduleChunk = 256

// scheduleScript adds entries to a stream's waiting set: ARGV holds a
// pair per entry, its due time ("+<ms>": that long after the server's
// clock now; "<ms>": at that Unix time) and its encoded fields. Each gets
// the next scheduled ID, so IDs increase in the order given, and ties of
// due time are moved in that order. It returns each entry's ID and due
// time. The stream's type is checked first: an entry for a key of another
// type could never be moved.
var scheduleScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])
if type(t) == 'table' then t = t['ok'] end
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE stream key ' .. KEYS[1] .. ' holds a ' .. t)
end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local out = {}
for i = 1, #ARGV, 2 do
  local due
  if string.sub(ARGV[i], 1, 1) == '+' then
    due = now + tonumber(string.sub(ARGV[i], 2))
  else
    due = tonumber(ARGV[i])
  end
  local id = string.format('%016x', redis.call('HINCRBY', KEYS[3], 'seq', 1))
  redis.call('ZADD', KEYS[2], due, id)
  redis.call('HSET', KEYS[3], id, ARGV[i + 1])
  out[#out + 1] = id
  out[#out + 1] = tostring(due)
end
return out
`)

// cancelScript removes one waiting entry; 1 if it was waiting. Removing
// it from the set decides: a move that ran first took it, and none can
// take it after.
var cancelScript = rueidis.NewLuaScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`)

// schedule checks every entry, then sends one script call per stream and
// chunk, all in one pipeline.
func (p *Publisher) schedule(ctx context.Context, entries []ScheduledEntry) ([]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	type call struct {
		stream string
		idx    []int
		args   []string
	}
	var calls []*call
	open := map[string]*call{}
	for i, e := range entries {
		due, err := dueArg(e)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if e.Stream == "" {
			return nil, fmt.Errorf("entry %d: %w", i, &Error{Op: "schedule", Kind: ErrInvalidOption, Err: errEmptyStream})
		}
		if len(e.Fields) == 0 {
			return nil, fmt.Errorf("entry %d: %w", i, &Error{Op: "schedule", Key: e.Stream, Kind: ErrNoFields})
		}
		fields := joinHeaders(e.Headers, e.Fields)
		if len(e.Fields) > maxDedupFields || len(e.Headers) > maxScriptHeaders {
			// The move script passes the fields to XADD as one argument
			// list, which Lua cannot unpack beyond a few thousand values:
			// such an entry could never be moved, and would hold up every
			// entry due after it.
			return nil, fmt.Errorf("entry %d: %w", i, &Error{Op: "schedule", Key: e.Stream, Kind: ErrInvalidOption,
				Err: fmt.Errorf("a scheduled entry holds at most %d fields and %d headers, got %d and %d", maxDedupFields, maxScriptHeaders, len(e.Fields), len(e.Headers))})
		}
		c := open[e.Stream]
		if c == nil || len(c.idx) == scheduleChunk {
			c = &call{stream: e.Stream}
			open[e.Stream] = c
			calls = append(calls, c)
		}
		c.idx = append(c.idx, i)
		c.args = append(c.args, due, p.encodeScheduled(fields))
	}
	execs := make([]rueidis.LuaExec, len(calls))
	for i, c := range calls {
		execs[i] = rueidis.LuaExec{Keys: []string{c.stream, ScheduledKey(c.stream), scheduledFieldsKey(c.stream)}, Args: c.args}
	}
	ids := make([]string, len(entries))
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(entries))
		}
		errs[i] = err
	}
	for k, r := range scheduleScript.ExecMulti(ctx, p.client, execs...) {
		c := calls[k]
		got, err := r.AsStrSlice()
		if err == nil && len(got) != 2*len(c.idx) {
			err = errors.New("unexpected reply")
		}
		for j, i := range c.idx {
			if err != nil {
				fail(i, wrapErr("schedule", c.stream, err))
				continue
			}
			ids[i] = got[2*j]
		}
	}
	if errs != nil {
		return ids, &BatchError{Errs: errs}
	}
	return ids, nil
}

// dueArg is the script's due-time argument for e.
func dueArg(e ScheduledEntry) (string, error) {
	switch {
	case !e.At.IsZero() && e.In != 0:
		return "", fmt.Errorf("%w: a scheduled entry takes At or In, not both", ErrInvalidOption)
	case !e.At.IsZero():
		ms := e.At.UnixMilli()
		if ms < 0 || e.At.After(time.Now().Add(maxScheduleAhead)) {
			return "", fmt.Errorf("%w: due time %v must be after 1970 and within %v from now", ErrInvalidOption, e.At, maxScheduleAhead)
		}
		return strconv.FormatInt(ms, 10), nil
	case e.In < 0 || e.In > maxScheduleAhead:
		return "", fmt.Errorf("%w: delay must be between 0 and %v, got %v", ErrInvalidOption, maxScheduleAhead, e.In)
	default:
		return "+" + strconv.FormatInt(e.In.Milliseconds(), 10), nil
	}
}

// encodeScheduled encodes an entry for the move script: the publisher's
// trimming ("" "", "maxlen" n or "maxage" ms) and then the fields, each
// string as its length in decimal, ":" and its bytes, so any bytes
// survive.
func (p *Publisher) encodeScheduled(fields []Field) string {
	var b strings.Builder
	put := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	switch {
	case p.maxLen > 0:
		put("maxlen")
		put(strconv.FormatInt(p.maxLen, 10))
	case p.maxAge > 0:
		put("maxage")
		put(strconv.FormatInt(p.maxAge.Milliseconds(), 10))
	default:
		put("")
		put("")
	}
	for _, f := range fields {
		put(f.Name)
		put(f.Value)
	}
	return b.String()
}

// decodeScheduled reverses encodeScheduled, dropping the trimming.
func decodeScheduled(s string) ([]Field, error) {
	var parts []string
	for len(s) > 0 {
		c := strings.IndexByte(s, ':')
		if c < 0 {
			return nil, errors.New("bad scheduled entry encoding")
		}
		n, err := strconv.Atoi(s[:c])
		if err != nil || n < 0 || c+1+n > len(s) {
			return nil, errors.New("bad scheduled entry encoding")
		}
		parts = append(parts, s[c+1:c+1+n])
		s = s[c+1+n:]
	}
	if len(parts) < 2 || len(parts)%2 != 0 {
		return nil, errors.New("bad scheduled entry encoding")
	}
	fields := make([]Field, 0, len(parts)/2-1)
	for i := 2; i < len(parts); i += 2 {
		fields = append(fields, Field{Name: parts[i], Value: parts[i+1]})
	}
	return fields, nil
}

// cancelScheduled removes a waiting entry (Publisher.Cancel,
// Inspector.CancelScheduled).
func cancelScheduled(ctx context.Context, client rueidis.Client, stream, id string) error {
	if stream == "" || id == "" {
		return &Error{Op: "cancel", Key: stream, Kind: ErrInvalidOption, Err: errors.New("empty stream or ID")}
	}
	n, err := cancelScript.Exec(ctx, client, []string{ScheduledKey(stream), scheduledFieldsKey(stream)}, []string{id}).AsInt64()
	if err != nil {
		return wrapErr("cancel", stream, err)
	}
	if n == 0 {
		return &Error{Op: "cancel", Key: stream + " " + id, Kind: ErrNoEntry, Err: errors.New("not waiting: moved already, cancelled or never scheduled")}
	}
	return nil
}

// moveBatch is how many due entries one move script call moves at most.
const moveBatch = 256

// moveScript moves the due entries of a stream's waiting set into the
// stream, in due order (ties in scheduling order), at most ARGV[1] of
// them: for each it appends the entry (trimmed as its publisher asked)
// and removes it from the set and the hash, in this one script, so an
// entry is moved exactly once however many consumers run it at once, and
// a crash at any point leaves it either waiting or moved. "Due" is by the
// server's clock. It returns {moved, next due time or "", now} (times in
// Unix ms), so the caller can sleep until the next one. A stream key of
// another type is refused before anything is moved; an XADD refused
// later (OOM) leaves its entry and those after it waiting.
var moveScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])
if type(t) == 'table' then t = t['ok'] end
if t ~= 'none' and t ~= 'stream' then
  return redis.error_reply('WRONGTYPE stream key ' .. KEYS[1] .. ' holds a ' .. t)
end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local moved = 0
for _, id in ipairs(due) do
  local data = redis.call('HGET', KEYS[3], id)
  if data then
    local a, i = {}, 1
    while i <= #data do
      local c = string.find(data, ':', i, true)
      local n = tonumber(string.sub(data, i, c - 1))
      a[#a + 1] = string.sub(data, c + 1, c + n)
      i = c + n + 1
    end
    local cmd = {'XADD', KEYS[1]}
    if a[1] == 'maxlen' then
      cmd[#cmd + 1] = 'MAXLEN'; cmd[#cmd + 1] = '~'; cmd[#cmd + 1] = a[2]
    elseif a[1] == 'maxage' then
      cmd[#cmd + 1] = 'MINID'; cmd[#cmd + 1] = '~'; cmd[#cmd + 1] = tostring(math.max(now - tonumber(a[2]), 0))
    end
    cmd[#cmd + 1] = '*'
    for j = 3, #a do cmd[#cmd + 1] = a[j] end
    redis.call(unpack(cmd))
    moved = moved + 1
  end
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {moved, nxt[2] or '', tostring(now)}
`)

// moveDue runs moveScript once for stream. It returns how many entries it
// moved and, when entries still wait, how long until the next is due by
// the server's clock (<= 0: due now; -1 with more false: none waits).
func moveDue(ctx context.Context, client rueidis.Client, stream string) (moved int64, wait time.Duration, more bool, err error) {
	arr, err := moveScript.Exec(ctx, client, []string{stream, ScheduledKey(stream), scheduledFieldsKey(stream)}, []string{strconv.Itoa(moveBatch)}).ToArray()
	if err == nil && len(arr) != 3 {
		err = errors.New("unexpected reply")
	}
	if err != nil {
		return 0, 0, false, wrapErr("move scheduled", stream, err)
	}
	moved, _ = arr[0].AsInt64()
	next, _ := arr[1].ToString()
	nowS, _ := arr[2].ToString()
	if next == "" {
		return moved, -1, false, nil
	}
	nextMs, err1 := strconv.ParseFloat(next, 64)
	nowMs, err2 := strconv.ParseInt(nowS, 10, 64)
	if err1 != nil || err2 != nil {
		return moved, 0, true, nil
	}
	return moved, time.Duration(int64(nextMs)-nowMs) * time.Millisecond, true, nil
}
