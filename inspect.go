package redstream

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// lagCountLimit bounds how many entries the Inspector counts itself when
// the server does not report a group's lag.
const lagCountLimit = 10000

// Inspector reads the state of streams and their consumer groups. It is
// the one source of the numbers redstream shows: the CLI and metrics are
// built on it. It is safe for concurrent use and holds no resources; it
// never closes the client.
type Inspector struct {
	client     rueidis.Client
	deadSuffix string
}

// InspectorOption configures an Inspector.
type InspectorOption func(*Inspector)

// InspectDeadLetterSuffix tells the Inspector which suffix names a stream's
// dead-letter stream, as DeadLetterSuffix tells a consumer (default
// DefaultDeadLetterSuffix, ":dead"). An empty suffix keeps the default.
func InspectDeadLetterSuffix(suffix string) InspectorOption {
	return func(in *Inspector) {
		if suffix != "" {
			in.deadSuffix = suffix
		}
	}
}

// NewInspector returns an Inspector that reads through client.
func NewInspector(client rueidis.Client, opts ...InspectorOption) *Inspector {
	in := &Inspector{client: client, deadSuffix: DefaultDeadLetterSuffix}
	for _, o := range opts {
		o(in)
	}
	return in
}

// DeadLetterKey returns the dead-letter stream of stream under the
// Inspector's suffix.
func (in *Inspector) DeadLetterKey(stream string) string { return stream + in.deadSuffix }

// StreamInfo describes a stream and its consumer groups.
type StreamInfo struct {
	Stream          string `json:"stream"`
	Length          int64  `json:"length"`
	FirstID         string `json:"first_id"` // "" when empty
	LastID          string `json:"last_id"`  // "" when empty
	LastGeneratedID string `json:"last_generated_id"`
	// EntriesAdded is how many entries were ever added to the stream,
	// trimmed and deleted ones included (Redis 7+), or nil where the
	// server does not count: the difference of two readings is the
	// stream's write rate.
	EntriesAdded *int64 `json:"entries_added"`
	// MemoryBytes is the server's estimate of the stream's memory (MEMORY
	// USAGE), or nil where the server does not tell.
	MemoryBytes *int64 `json:"memory_bytes"`
	// DeadLetterStream is the stream's dead-letter stream (under the
	// Inspector's suffix, see InspectDeadLetterSuffix) and
	// DeadLetters how many entries it holds (0 when it does not exist).
	DeadLetterStream string      `json:"dead_letter_stream"`
	DeadLetters      int64       `json:"dead_letters"`
	Groups           []GroupInfo `json:"groups"`
	// Scheduled is how many scheduled entries wait to be moved into the
	// stream (PublishAt), and NextDue when the first of them is due, or
	// nil when none waits.
	Scheduled int64      `json:"scheduled"`
	NextDue   *time.Time `json:"next_due"`
	// ReadAt is when the state was read, by the caller's clock; ages are
	// measured from it.
	ReadAt time.Time `json:"read_at"`
}

// GroupInfo describes one consumer group of a stream.
type GroupInfo struct {
	Name            string         `json:"name"`
	Consumers       []ConsumerInfo `json:"consumers"`
	Pending         int64          `json:"pending"`
	LastDeliveredID string         `json:"last_delivered_id"`
	// Lag is how many entries of the stream the group has not been
	// delivered yet, or nil when it cannot be known exactly (the server
	// does not say and the backlog is too long to count).
	Lag *int64 `json:"lag"`
	// OldestPendingID is the smallest ID pending in the group ("" when none)
	// and OldestPendingAge how old that entry is (from its ID's time), or
	// nil when nothing is pending.
	OldestPendingID  string         `json:"oldest_pending_id"`
	OldestPendingAge *time.Duration `json:"oldest_pending_age_ns"`
}

// ConsumerInfo describes one consumer of a group.
type ConsumerInfo struct {
	Name    string `json:"name"`
	Pending int64  `json:"pending"`
	// Idle is the time since the consumer's last attempted interaction
	// (read or claim); negative when the server does not tell.
	Idle time.Duration `json:"idle_ns"`
	// Inactive is the time since its last successful interaction (Redis
	// 7.2+), or nil where the server does not report it.
	Inactive *time.Duration `json:"inactive_ns"`
}

// PendingEntry is one entry of a group's pending list.
type PendingEntry struct {
	ID         string        `json:"id"`
	Consumer   string        `json:"consumer"`
	Idle       time.Duration `json:"idle_ns"` // since it was last delivered
	Deliveries int64         `json:"deliveries"`
}

// Stream returns the state of stream and all its groups. It returns an
// error matching ErrNoStream when the key does not exist and ErrNotStream
// when it holds another type.
func (in *Inspector) Stream(ctx context.Context, stream string) (*StreamInfo, error) {
	c := in.client
	typ, err := c.Do(ctx, c.B().Type().Key(stream).Build()).ToString()
	if err != nil {
		return nil, wrapErr("type", stream, err)
	}
	switch typ {
	case "stream":
	case "none":
		return nil, &Error{Op: "inspect", Key: stream, Kind: ErrNoStream}
	default:
		return nil, &Error{Op: "inspect", Key: stream, Kind: ErrNotStream, Err: fmt.Errorf("it holds a %s", typ)}
	}
	res := c.DoMulti(ctx,
		c.B().Xlen().Key(stream).Build(),
		c.B().Xrange().Key(stream).Start("-").End("+").Count(1).Build(),
		c.B().Xrevrange().Key(stream).End("+").Start("-").Count(1).Build(),
		c.B().XinfoStream().Key(stream).Build(),
		c.B().XinfoGroups().Key(stream).Build(),
	)
	info := &StreamInfo{Stream: stream, DeadLetterStream: in.DeadLetterKey(stream), ReadAt: time.Now()}
	if info.Length, err = res[0].AsInt64(); err != nil {
		return nil, wrapErr("xlen", stream, err)
	}
	if first, err := asEntries(res[1]); err != nil {
		return nil, wrapErr("xrange", stream, err)
	} else if len(first) > 0 {
		info.FirstID = first[0].ID
	}
	if last, err := asEntries(res[2]); err != nil {
		return nil, wrapErr("xrevrange", stream, err)
	} else if len(last) > 0 {
		info.LastID = last[0].ID
	}
	sinfo, err := res[3].AsMap()
	if err != nil {
		return nil, wrapErr("xinfo stream", stream, err)
	}
	info.LastGeneratedID = str(sinfo["last-generated-id"])
	if v, ok := sinfo["entries-added"]; ok {
		if n, err := v.AsInt64(); err == nil {
			info.EntriesAdded = &n
		}
	}

	groups, err := res[4].ToArray()
	if err != nil {
		return nil, wrapErr("xinfo groups", stream, err)
	}
	consumerCmds := make(rueidis.Commands, 0, len(groups))
	for _, g := range groups {
		gm, err := g.AsMap()
		if err != nil {
			return nil, wrapErr("xinfo groups", stream, err)
		}
		gi := GroupInfo{
			Name:            str(gm["name"]),
			Pending:         integer(gm["pending"]),
			LastDeliveredID: str(gm["last-delivered-id"]),
		}
		if lag, ok := gm["lag"]; ok && !lag.IsNil() {
			if n, err := lag.AsInt64(); err == nil {
				gi.Lag = &n
			}
		}
		info.Groups = append(info.Groups, gi)
		consumerCmds = append(consumerCmds, c.B().XinfoConsumers().Key(stream).Group(gi.Name).Build())
	}
	// The dead letters and memory always; per group its consumers and
	// the head of its pending list.
	extra := rueidis.Commands{
		c.B().Xlen().Key(info.DeadLetterStream).Build(),
		c.B().MemoryUsage().Key(stream).Build(),
		c.B().Zcard().Key(ScheduledKey(stream)).Build(),
		c.B().Zrange().Key(ScheduledKey(stream)).Min("0").Max("0").Withscores().Build(),
	}
	for _, g := range info.Groups {
		extra = append(extra, c.B().Xpending().Key(stream).Group(g.Name).Build())
	}
	ex := c.DoMulti(ctx, extra...)
	if n, err := ex[0].AsInt64(); err == nil {
		info.DeadLetters = n
	} else if !isWrongType(err) {
		return nil, wrapErr("xlen", info.DeadLetterStream, err)
	}
	if n, err := ex[1].AsInt64(); err == nil {
		info.MemoryBytes = &n
	}
	if err := info.readScheduled(ex[2], ex[3]); err != nil {
		return nil, err
	}
	for i := range info.Groups {
		summary, err := ex[4+i].ToArray()
		if err != nil {
			return nil, wrapErr("xpending", stream+" "+info.Groups[i].Name, err)
		}
		if len(summary) >= 2 && !summary[1].IsNil() {
			oldest := str(summary[1])
			info.Groups[i].OldestPendingID = oldest
			if id, err := ParseID(oldest); err == nil {
				age := max(info.ReadAt.Sub(id.Time()), 0)
				info.Groups[i].OldestPendingAge = &age
			}
		}
	}
	if len(consumerCmds) == 0 {
		return info, nil
	}
	for i, r := range c.DoMulti(ctx, consumerCmds...) {
		rows, err := r.ToArray()
		if err != nil {
			return nil, wrapErr("xinfo consumers", stream+" "+info.Groups[i].Name, err)
		}
		for _, row := range rows {
			cm, err := row.AsMap()
			if err != nil {
				return nil, wrapErr("xinfo consumers", stream+" "+info.Groups[i].Name, err)
			}
			ci := ConsumerInfo{
				Name:    str(cm["name"]),
				Pending: integer(cm["pending"]),
				Idle:    time.Duration(integer(cm["idle"])) * time.Millisecond,
			}
			if in, ok := cm["inactive"]; ok {
				if v, err := in.AsInt64(); err == nil && v >= 0 {
					d := time.Duration(v) * time.Millisecond
					ci.Inactive = &d
				}
			}
			info.Groups[i].Consumers = append(info.Groups[i].Consumers, ci)
		}
	}
	for i := range info.Groups {
		if info.Groups[i].Lag == nil {
			info.Groups[i].Lag, err = in.countLag(ctx, info, &info.Groups[i])
			if err != nil {
				return nil, err
			}
		}
	}
	return info, nil
}

// countLag works out a group's lag when the server did not report it: by
// comparing IDs when the group has read everything, else by counting the
// entries after its last delivered ID, if there are few enough.
func (in *Inspector) countLag(ctx context.Context, s *StreamInfo, g *GroupInfo) (*int64, error) {
	var zero int64
	if s.LastID == "" {
		return &zero, nil
	}
	last, err := ParseID(s.LastID)
	if err != nil {
		return nil, nil
	}
	delivered, err := ParseID(g.LastDeliveredID)
	if err != nil {
		return nil, nil
	}
	if delivered.Compare(last) >= 0 {
		return &zero, nil
	}
	if s.Length > lagCountLimit {
		return nil, nil
	}
	c := in.client
	n, err := c.Do(ctx, c.B().Xrange().Key(s.Stream).Start(nextID(g.LastDeliveredID)).End("+").Count(lagCountLimit).Build()).ToArray()
	if err != nil {
		return nil, wrapErr("xrange", s.Stream, err)
	}
	lag := int64(len(n))
	return &lag, nil
}

// Pending returns up to count entries of group's pending list from start
// ("-" for the beginning), optionally only those of one consumer, with
// their owner, idle time and delivery count, and the start of the next
// page ("" after the last).
func (in *Inspector) Pending(ctx context.Context, stream, group, start string, count int64, consumer string) ([]PendingEntry, string, error) {
	c := in.client
	if start == "" {
		start = "-"
	}
	if count <= 0 {
		count = 100
	}
	cmd := c.B().Xpending().Key(stream).Group(group).Start(start).End("+").Count(count)
	var built rueidis.Completed
	if consumer != "" {
		built = cmd.Consumer(consumer).Build()
	} else {
		built = cmd.Build()
	}
	rows, err := c.Do(ctx, built).ToArray()
	if err != nil {
		return nil, "", wrapErr("xpending", stream+" "+group, err)
	}
	out := make([]PendingEntry, 0, len(rows))
	for _, row := range rows {
		cols, err := row.ToArray()
		if err != nil || len(cols) < 4 {
			return nil, "", wrapErr("xpending", stream+" "+group, fmt.Errorf("unexpected reply row"))
		}
		out = append(out, PendingEntry{
			ID:         str(cols[0]),
			Consumer:   str(cols[1]),
			Idle:       time.Duration(integer(cols[2])) * time.Millisecond,
			Deliveries: integer(cols[3]),
		})
	}
	next := ""
	if int64(len(out)) == count {
		next = nextID(out[len(out)-1].ID)
	}
	return out, next, nil
}

// Streams lists the keys holding streams whose names match the glob
// pattern ("*" for all), on every node of a cluster. It scans; use it for
// tools, not on a hot path.
func (in *Inspector) Streams(ctx context.Context, pattern string) ([]string, error) {
	if pattern == "" {
		pattern = "*"
	}
	var out []string
	for _, node := range in.client.Nodes() {
		cursor := uint64(0)
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Type("stream").Build()).AsScanEntry()
			if err != nil {
				return nil, wrapErr("scan", pattern, err)
			}
			out = append(out, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil // replicas list their masters' keys too
}

func isWrongType(err error) bool { return redisCode(err) == "WRONGTYPE" }

func str(m rueidis.RedisMessage) string {
	s, _ := m.ToString()
	return s
}

func integer(m rueidis.RedisMessage) int64 {
	n, err := m.AsInt64()
	if err != nil {
		return 0
	}
	return n
}

// readScheduled fills Scheduled and NextDue from ZCARD and the head of
// the waiting set.
func (info *StreamInfo) readScheduled(card, head rueidis.RedisResult) error {
	key := ScheduledKey(info.Stream)
	n, err := card.AsInt64()
	if err != nil {
		return wrapErr("zcard", key, err)
	}
	info.Scheduled = n
	zs, err := head.AsZScores()
	if err != nil {
		return wrapErr("zrange", key, err)
	}
	if len(zs) > 0 {
		due := time.UnixMilli(int64(zs[0].Score))
		info.NextDue = &due
	}
	return nil
}

// Scheduled returns up to count of stream's scheduled entries that wait
// to be moved in, earliest due first (see Publisher.PublishAt).
func (in *Inspector) Scheduled(ctx context.Context, stream string, count int64) ([]ScheduledMessage, error) {
	if count < 1 {
		return nil, fmt.Errorf("%w: count must be at least 1, got %d", ErrInvalidOption, count)
	}
	c := in.client
	key := ScheduledKey(stream)
	zs, err := c.Do(ctx, c.B().Zrange().Key(key).Min("0").Max(strconv.FormatInt(count-1, 10)).Withscores().Build()).AsZScores()
	if err != nil {
		return nil, wrapErr("zrange", key, err)
	}
	if len(zs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(zs))
	for i, z := range zs {
		ids[i] = z.Member
	}
	vals, err := c.Do(ctx, c.B().Hmget().Key(scheduledFieldsKey(stream)).Field(ids...).Build()).ToArray()
	if err != nil {
		return nil, wrapErr("hmget", scheduledFieldsKey(stream), err)
	}
	out := make([]ScheduledMessage, 0, len(zs))
	for i, z := range zs {
		if i >= len(vals) {
			break
		}
		data, err := vals[i].ToString()
		if err != nil {
			continue // moved or cancelled between the two reads
		}
		fields, err := decodeScheduled(data)
		if err != nil {
			return nil, wrapErr("scheduled", stream+" "+z.Member, err)
		}
		sm := ScheduledMessage{ID: z.Member, Stream: stream, Due: time.UnixMilli(int64(z.Score))}
		sm.Headers, sm.Fields = splitHeaders(fields)
		out = append(out, sm)
	}
	return out, nil
}

// CancelScheduled removes the scheduled entry id of stream, as
// Publisher.Cancel does: ErrNoEntry when it is not waiting.
func (in *Inspector) CancelScheduled(ctx context.Context, stream, id string) error {
	return cancelScheduled(ctx, in.client, stream, id)
}
