package redstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ErrNoConsumer reports a consumer that is not in its group.
var ErrNoConsumer = errors.New("redstream: no such consumer in the group")

// ErrHasPending reports a refusal to delete a group or consumer that still
// holds pending entries: they would become unclaimable and never be
// processed.
var ErrHasPending = errors.New("redstream: entries are still pending")

// deleteGroupScript deletes group ARGV[1] of stream KEYS[1] unless entries
// are pending in it and ARGV[2] is not "1". It returns {1, pending} when it
// deleted the group, {0, pending} when it refused, {-1, 0} when there is
// no such group, {-2, 0} when there is no such key and {-3, 0} when the
// key is not a stream. Checking and deleting in one step means nothing can
// become pending in between.
var deleteGroupScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {-2, 0} end
if t ~= 'stream' then return {-3, 0} end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, g in ipairs(groups) do
  local name, pending
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] end
    if g[i] == 'pending' then pending = g[i + 1] end
  end
  if name == ARGV[1] then
    if pending > 0 and ARGV[2] ~= '1' then return {0, pending} end
    redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
    return {1, pending}
  end
end
return {-1, 0}
`)

// deleteConsumerScript deletes consumer ARGV[2] of group ARGV[1] unless it
// owns pending entries and ARGV[3] is not "1"; results as for
// deleteGroupScript.
var deleteConsumerScript = rueidis.NewLuaScript(`
local t = redis.call('TYPE', KEYS[1])['ok']
if t == 'none' then return {-2, 0} end
if t ~= 'stream' then return {-3, 0} end
local cs = redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
for _, c in ipairs(cs) do
  local name, pending
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] end
    if c[i] == 'pending' then pending = c[i + 1] end
  end
  if name == ARGV[2] then
    if pending > 0 and ARGV[3] ~= '1' then return {0, pending} end
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    return {1, pending}
  end
end
return {-1, 0}
`)

func forceArg(force bool) string {
	if force {
		return "1"
	}
	return "0"
}

// guardedDelete runs one of the delete scripts and turns its reply into
// the number of pending entries and an error: ErrHasPending when it
// refused, missing when there was nothing to delete.
func guardedDelete(ctx context.Context, client rueidis.Client, script *rueidis.Lua, op, key string, missing error, args ...string) (int64, error) {
	res, err := script.Exec(ctx, client, []string{key}, args).AsIntSlice()
	if err != nil {
		return 0, wrapErr(op, key, err)
	}
	if len(res) != 2 {
		return 0, wrapErr(op, key, errors.New("unexpected reply"))
	}
	switch res[0] {
	case -1:
		return 0, &Error{Op: op, Key: key, Kind: missing}
	case -2:
		return 0, &Error{Op: op, Key: key, Kind: ErrNoStream}
	case -3:
		return 0, &Error{Op: op, Key: key, Kind: ErrNotStream}
	case 0:
		return res[1], &Error{Op: op, Key: key, Kind: ErrHasPending}
	}
	return res[1], nil
}

// DeleteGroup deletes group of stream unless entries are pending in it;
// with force it deletes it anyway. It returns how many entries were
// pending, and an error matching ErrHasPending when it refused, ErrNoGroup
// when there is no such group, ErrNoStream or ErrNotStream for the key.
func (in *Inspector) DeleteGroup(ctx context.Context, stream, group string, force bool) (pending int64, err error) {
	return guardedDelete(ctx, in.client, deleteGroupScript, "delete group "+group, stream, ErrNoGroup, group, forceArg(force))
}

// DeleteConsumer removes consumer from group unless it owns pending
// entries; with force it removes it anyway, and those entries can no
// longer be claimed. It returns how many entries the consumer owned, and
// an error matching ErrHasPending when it refused, ErrNoConsumer when
// the group has no such consumer, ErrNoGroup when there is no such group.
func (in *Inspector) DeleteConsumer(ctx context.Context, stream, group, consumer string, force bool) (pending int64, err error) {
	return guardedDelete(ctx, in.client, deleteConsumerScript, "delete consumer "+consumer, stream, ErrNoConsumer, group, consumer, forceArg(force))
}

// ErrGroupExists reports that CreateGroup found the group already there.
var ErrGroupExists = errors.New("redstream: consumer group already exists")

// ErrBeyondEnd reports a group position past the stream's last entry,
// refused without force: such a group skips every entry added until the
// server's clock reaches its position, and its lag reads 0 all the while.
var ErrBeyondEnd = errors.New("redstream: position is beyond the stream's last entry")

// defaultAdminCount is how many entries Range and Tail return at most when
// the caller gives no positive count.
const defaultAdminCount = 100

// CreateGroup creates group on stream, starting at start: "$" (only
// entries added from now on), "0" (the whole stream) or an entry ID (the
// entries after it). With mkstream a missing stream is created empty. It
// returns an error matching ErrGroupExists when the group is already
// there, ErrNoStream when the stream is missing and mkstream is false,
// ErrNotStream when the key holds another type and ErrInvalidID for a
// malformed start.
func (in *Inspector) CreateGroup(ctx context.Context, stream, group, start string, mkstream bool) error {
	op := "create group " + group
	if err := checkPosition(start); err != nil {
		return &Error{Op: op, Key: stream, Kind: ErrInvalidID, Err: err}
	}
	if err := aheadOfStream(ctx, in.client, op, stream, start); err != nil {
		return err
	}
	c := in.client
	b := c.B().XgroupCreate().Key(stream).Group(group).Id(start)
	var create rueidis.Completed
	if mkstream {
		create = b.Mkstream().Build()
	} else {
		create = b.Build()
	}
	// TYPE in the same round trip tells a missing stream apart, which
	// XGROUP CREATE reports only in the words of a generic error.
	res := c.DoMulti(ctx, c.B().Type().Key(stream).Build(), create)
	err := res[1].Error()
	if err == nil {
		return nil
	}
	typ, terr := res[0].ToString()
	switch {
	case terr != nil, rueidis.IsRedisBusyGroup(err):
	case typ == "none" && !mkstream:
		if _, ok := rueidis.IsRedisErr(err); ok {
			return &Error{Op: op, Key: stream, Kind: ErrNoStream, Err: err}
		}
	case typ != "stream" && isWrongType(err):
		return &Error{Op: op, Key: stream, Kind: ErrNotStream, Err: fmt.Errorf("it holds a %s", typ)}
	}
	return wrapErr(op, stream, err)
}

// SetGroupID sets the ID of the last entry group was delivered: the group
// is delivered the entries after id next. id is "$" (skip everything
// there is), "0" (replay the whole stream) or an entry ID. Entries
// already pending stay pending. An ID above the largest the stream has
// generated is refused with an error matching ErrBeyondEnd unless force.
// Other errors match ErrNoStream, ErrNotStream, ErrNoGroup or
// ErrInvalidID.
func (in *Inspector) SetGroupID(ctx context.Context, stream, group, id string, force bool) error {
	op := "set the ID of group " + group
	if err := checkPosition(id); err != nil {
		return &Error{Op: op, Key: stream, Kind: ErrInvalidID, Err: err}
	}
	last, hasGroup, err := in.streamHead(ctx, op, stream, group)
	if err != nil {
		return err
	}
	if !hasGroup {
		return &Error{Op: op, Key: stream, Kind: ErrNoGroup}
	}
	if id != "$" && !force {
		// The stream's last generated ID only grows, so a position at or
		// below it now stays at or below it.
		if to, _ := ParseID(id); to.Compare(last) > 0 {
			return &Error{Op: op, Key: stream, Kind: ErrBeyondEnd, Err: fmt.Errorf("%s is after the last entry ID %s", to, last)}
		}
	}
	c := in.client
	return wrapErr(op, stream, c.Do(ctx, c.B().XgroupSetid().Key(stream).Group(group).Id(id).Build()).Error())
}

// SetGroupTime moves group to the instant t: the group is then delivered
// the entries added after t, by the time in their IDs ("replay the last
// hour" is time.Now().Add(-time.Hour)). It sets the ID <milliseconds of
// t>-0. A t in the future, by the caller's clock, is refused with an
// error matching ErrBeyondEnd unless force; other errors as SetGroupID's.
func (in *Inspector) SetGroupTime(ctx context.Context, stream, group string, t time.Time, force bool) error {
	if !force && t.After(time.Now()) {
		return &Error{Op: "set the time of group " + group, Key: stream, Kind: ErrBeyondEnd,
			Err: fmt.Errorf("%s is in the future", t.Format(time.RFC3339Nano))}
	}
	// Never past the stream's last generated ID: on a stream whose IDs are
	// not times (explicit IDs), <ms of t>-0 would pass over entries still
	// to come. For time-based IDs this changes nothing.
	at := timeID(t)
	last, hasGroup, err := in.streamHead(ctx, "set the time of group "+group, stream, group)
	if err != nil {
		return err
	}
	if !hasGroup {
		return &Error{Op: "set the time of group " + group, Key: stream, Kind: ErrNoGroup}
	}
	if at.Compare(last) > 0 && !t.After(time.Now()) {
		at = last
	}
	return in.SetGroupID(ctx, stream, group, at.String(), true)
}

// aheadOfStream returns an error matching ErrBeyondEnd when a group
// created at start would skip entries not yet added: start is an entry ID
// ("$" and "0" never are) above both the largest ID the stream has
// generated and the present millisecond. Such a group shows lag 0 while
// it passes over every entry added until the clock reaches it. An ID in
// the past is harmless even on an empty stream: new entries come after it.
func aheadOfStream(ctx context.Context, client rueidis.Client, op, stream, start string) error {
	at, err := ParseID(start)
	if err != nil || start == "$" || at == (ID{}) {
		return nil // "$", "0"; malformed IDs are refused elsewhere
	}
	if now := timeID(time.Now()); at.Compare(now) <= 0 {
		return nil
	}
	res := client.DoMulti(ctx, client.B().Type().Key(stream).Build(), client.B().XinfoStream().Key(stream).Build())
	typ, err := res[0].ToString()
	if err != nil {
		return wrapErr(op, stream, err)
	}
	last := ID{} // a missing stream has generated none
	if typ == "stream" {
		m, err := res[1].AsMap()
		if err != nil {
			return wrapErr(op, stream, err)
		}
		if last, err = ParseID(str(m["last-generated-id"])); err != nil {
			return wrapErr(op, stream, err)
		}
	} else if typ != "none" {
		return nil // another type: creating the group says so
	}
	if at.Compare(last) > 0 {
		return &Error{Op: op, Key: stream, Kind: ErrBeyondEnd,
			Err: fmt.Errorf("%s is in the future and after the last entry ID %s: the group would skip every entry added until then", at, last)}
	}
	return nil
}

// timeID returns the smallest entry ID of the millisecond of t,
// "<milliseconds>-0"; instants before 1970 give "0-0".
func timeID(t time.Time) ID {
	return ID{Ms: uint64(max(t.UnixMilli(), 0))}
}

// streamHead checks that stream is a stream and returns the largest ID it
// has generated ("0-0" when it never had an entry) and whether it has
// group, in one round trip.
func (in *Inspector) streamHead(ctx context.Context, op, stream, group string) (last ID, hasGroup bool, err error) {
	c := in.client
	res := c.DoMulti(ctx,
		c.B().Type().Key(stream).Build(),
		c.B().XinfoStream().Key(stream).Build(),
		c.B().XinfoGroups().Key(stream).Build(),
	)
	typ, err := res[0].ToString()
	if err != nil {
		return ID{}, false, wrapErr(op, stream, err)
	}
	switch typ {
	case "stream":
	case "none":
		return ID{}, false, &Error{Op: op, Key: stream, Kind: ErrNoStream}
	default:
		return ID{}, false, &Error{Op: op, Key: stream, Kind: ErrNotStream, Err: fmt.Errorf("it holds a %s", typ)}
	}
	m, err := res[1].AsMap()
	if err != nil {
		return ID{}, false, wrapErr(op, stream, err)
	}
	last, err = ParseID(str(m["last-generated-id"]))
	if err != nil {
		return ID{}, false, wrapErr(op, stream, err)
	}
	groups, err := res[2].ToArray()
	if err != nil {
		return ID{}, false, wrapErr(op, stream, err)
	}
	for _, g := range groups {
		gm, err := g.AsMap()
		if err != nil {
			return ID{}, false, wrapErr(op, stream, err)
		}
		hasGroup = hasGroup || str(gm["name"]) == group
	}
	return last, hasGroup, nil
}

// checkPosition accepts a group position: "$" or an entry ID.
func checkPosition(id string) error {
	if id == "$" {
		return nil
	}
	_, err := ParseID(id)
	return err
}

// Range returns up to count entries of stream between start and end, both
// inclusive, in ID order; with reverse it returns them from end down to
// start (XREVRANGE). start and end are "-" (the first entry), "+" (the
// last), entry IDs, or IDs after "(" to exclude them. count <= 0 means
// 100. The messages have Deliveries 0: they were read, not delivered to a
// group. A missing stream has no entries; a key of another type gives an
// error matching ErrNotStream, a malformed bound ErrInvalidID.
func (in *Inspector) Range(ctx context.Context, stream, start, end string, count int64, reverse bool) ([]*Message, error) {
	op := "xrange"
	if reverse {
		op = "xrevrange"
	}
	lo, ok, err := rangeBound(start, true)
	if err != nil {
		return nil, &Error{Op: op, Key: stream, Kind: ErrInvalidID, Err: err}
	}
	hi, ok2, err := rangeBound(end, false)
	if err != nil {
		return nil, &Error{Op: op, Key: stream, Kind: ErrInvalidID, Err: err}
	}
	if !ok || !ok2 {
		return nil, nil // an exclusive bound beyond every possible ID
	}
	if count <= 0 {
		count = defaultAdminCount
	}
	c := in.client
	var cmd rueidis.Completed
	if reverse {
		cmd = c.B().Xrevrange().Key(stream).End(hi).Start(lo).Count(count).Build()
	} else {
		cmd = c.B().Xrange().Key(stream).Start(lo).End(hi).Count(count).Build()
	}
	entries, err := asEntries(c.Do(ctx, cmd))
	if err != nil {
		return nil, wrapErr(op, stream, err)
	}
	out := make([]*Message, len(entries))
	for i, e := range entries {
		out[i] = newMessage(stream, e, 0)
	}
	return out, nil
}

// rangeBound turns a Range bound into one every server understands:
// "(ID" becomes the ID after it (a lower bound) or before it (an upper
// bound). ok is false when no ID lies beyond an exclusive bound.
func rangeBound(b string, lower bool) (bound string, ok bool, err error) {
	if b == "-" || b == "+" {
		return b, true, nil
	}
	exclusive := false
	if rest, cut := strings.CutPrefix(b, "("); cut {
		b, exclusive = rest, true
	}
	id, err := ParseID(b)
	if err != nil {
		return "", false, err
	}
	if !exclusive {
		return id.String(), true, nil
	}
	switch {
	case lower && id.Seq < math.MaxUint64:
		return ID{Ms: id.Ms, Seq: id.Seq + 1}.String(), true, nil
	case lower && id.Ms < math.MaxUint64:
		return ID{Ms: id.Ms + 1}.String(), true, nil
	case !lower && id.Seq > 0:
		return ID{Ms: id.Ms, Seq: id.Seq - 1}.String(), true, nil
	case !lower && id.Ms > 0:
		return ID{Ms: id.Ms - 1, Seq: math.MaxUint64}.String(), true, nil
	}
	return "", false, nil
}

// Tail returns up to count entries of stream added after the entry ID
// after ("$": only entries added from now on), waiting up to block for
// some to come (0: not waiting). It returns none when nothing came. To
// follow a stream, call it again with the ID of the last entry returned:
// "$" again would miss the entries added between two calls. count <= 0
// means 100. It reads with XREAD, outside any group: nothing is
// acknowledged or owned. The messages have Deliveries 0. A missing
// stream is waited for; errors match ErrNotStream, ErrInvalidID, or
// ErrInvalidOption for a negative block.
func (in *Inspector) Tail(ctx context.Context, stream, after string, count int64, block time.Duration) ([]*Message, error) {
	if err := checkPosition(after); err != nil {
		return nil, &Error{Op: "xread", Key: stream, Kind: ErrInvalidID, Err: err}
	}
	if block < 0 {
		return nil, &Error{Op: "xread", Key: stream, Kind: ErrInvalidOption, Err: fmt.Errorf("negative block %v", block)}
	}
	if count <= 0 {
		count = defaultAdminCount
	}
	c := in.client
	b := c.B().Xread().Count(count)
	var cmd rueidis.Completed
	if block > 0 {
		cmd = b.Block(max(block.Milliseconds(), 1)).Streams().Key(stream).Id(after).Build()
	} else {
		cmd = b.Streams().Key(stream).Id(after).Build()
	}
	reply, err := c.Do(ctx, cmd).ToMessage()
	if rueidis.IsRedisNil(err) {
		return nil, nil // nothing came within block
	}
	if err != nil {
		return nil, wrapErr("xread", stream, err)
	}
	msgs, err := parseXRead(&reply, stream)
	if err != nil {
		return nil, wrapErr("xread", stream, err)
	}
	for _, m := range msgs {
		m.Deliveries = 0
	}
	return msgs, nil
}

// ServerStats describes the Redis server, or the cluster, behind an
// Inspector's client: what an operator checks first when a stream
// misbehaves. In a cluster the settings are those of the node that
// answered, and Nodes lists every node.
type ServerStats struct {
	// Name is "redis" or a compatible server's name such as "valkey", and
	// Version its version (INFO server).
	Name    string `json:"name"`
	Version string `json:"version"`
	// Mode is "standalone", "cluster" or "sentinel" (INFO server's
	// redis_mode).
	Mode string `json:"mode"`
	// UsedMemory is the memory the data uses in bytes: the server's, or in
	// a cluster the sum over the nodes that answered.
	UsedMemory int64 `json:"used_memory"`
	// MaxMemory is the memory limit in bytes (0: none), and
	// MaxMemoryPolicy what happens at the limit ("noeviction" refuses
	// writes; the others evict keys, streams included).
	MaxMemory       int64  `json:"maxmemory"`
	MaxMemoryPolicy string `json:"maxmemory_policy"`
	// AOFEnabled tells whether the append-only file is on, and
	// AppendFsync its fsync policy ("always", "everysec", "no"), nil when
	// the Redis user may not read the configuration (CONFIG GET).
	AOFEnabled  bool    `json:"aof_enabled"`
	AppendFsync *string `json:"appendfsync"`
	// RDBSave is the snapshot schedule (CONFIG GET save, such as
	// "3600 1 300 100"; "" when snapshots are off), nil when the user may
	// not read the configuration.
	RDBSave *string `json:"rdb_save"`
	// RDBLastSave is when the last snapshot was saved (zero when never),
	// RDBChangesSinceSave how many writes it misses, and RDBLastStatus
	// and AOFLastWriteStatus the outcome of the last snapshot and
	// append-only write ("ok" or "err").
	RDBLastSave         time.Time `json:"rdb_last_save"`
	RDBChangesSinceSave int64     `json:"rdb_changes_since_save"`
	RDBLastStatus       string    `json:"rdb_last_status"`
	AOFLastWriteStatus  string    `json:"aof_last_write_status"`
	// Nodes are the cluster's nodes (CLUSTER NODES), or the one server
	// outside a cluster.
	Nodes []NodeStats `json:"nodes"`
	// ReadAt is when the facts were read, by the caller's clock.
	ReadAt time.Time `json:"read_at"`
}

// NodeStats describes one node of a cluster, or the one server.
type NodeStats struct {
	// Addr is the node's host:port ("" for a server outside a cluster
	// whose address the client does not know).
	Addr string `json:"addr"`
	// ID is the node's cluster ID ("" outside a cluster).
	ID string `json:"id"`
	// Role is "master" or "replica".
	Role string `json:"role"`
	// MasterID is the ID of the master a replica copies ("" for a master).
	MasterID string `json:"master_id"`
	// Slots is how many hash slots the node serves (0 outside a cluster).
	Slots int `json:"slots"`
	// Failing tells whether the cluster marks the node as failed or
	// possibly failed.
	Failing bool `json:"failing"`
	// UsedMemory is the node's used memory in bytes, nil when the client
	// could not ask it.
	UsedMemory *int64 `json:"used_memory"`
}

// Server returns the facts of the server behind the Inspector's client:
// version, mode, memory, persistence settings and, on a cluster, every
// node with its address and role. Settings read with CONFIG GET are nil
// when the Redis user may not read them; the rest needs INFO (and
// CLUSTER NODES on a cluster).
func (in *Inspector) Server(ctx context.Context) (*ServerStats, error) {
	c := in.client
	var nodes []NodeStats
	if c.Mode() == rueidis.ClientModeCluster {
		txt, err := c.Do(ctx, c.B().ClusterNodes().Build()).ToString()
		if err != nil {
			return nil, wrapErr("cluster nodes", "", err)
		}
		// RESP3 sends the reply as verbatim text, marked "txt:".
		nodes = parseClusterNodes(strings.TrimPrefix(txt, "txt:"))
		// Ask one master for everything, so the facts are of one node.
		clients := c.Nodes()
		for _, n := range nodes {
			if nc, ok := clients[n.Addr]; ok && n.Role == "master" && !n.Failing {
				c = nc
				break
			}
		}
	}
	res := c.DoMulti(ctx,
		c.B().Info().Section("server").Build(),
		c.B().Info().Section("memory").Build(),
		c.B().Info().Section("persistence").Build(),
		c.B().Info().Section("replication").Build(),
		c.B().ConfigGet().Parameter("save").Build(),
		c.B().ConfigGet().Parameter("appendfsync").Build(),
	)
	info := map[string]string{}
	for i, section := range []string{"server", "memory", "persistence", "replication"} {
		txt, err := res[i].ToString()
		if err != nil {
			// A server that answers but lacks a section (an embedded or
			// Redis-compatible one) leaves those facts unknown; only a
			// failure of the first, or of the connection, fails the call.
			if _, isReply := rueidis.IsRedisErr(err); i == 0 || !isReply || classify(err) != nil {
				return nil, wrapErr("info "+section, "", err)
			}
			continue
		}
		parseInfo(txt, info)
	}
	s := &ServerStats{
		Name:                "redis",
		Version:             info["redis_version"],
		Mode:                info["redis_mode"],
		MaxMemory:           atoi64(info["maxmemory"]),
		MaxMemoryPolicy:     info["maxmemory_policy"],
		AOFEnabled:          info["aof_enabled"] == "1",
		RDBChangesSinceSave: atoi64(info["rdb_changes_since_last_save"]),
		RDBLastStatus:       info["rdb_last_bgsave_status"],
		AOFLastWriteStatus:  info["aof_last_write_status"],
		ReadAt:              time.Now(),
	}
	if n := info["server_name"]; n != "" {
		s.Name = n
	} else if info["valkey_version"] != "" {
		s.Name = "valkey"
	}
	if s.Mode == "" {
		s.Mode = "standalone"
	}
	if t := atoi64(info["rdb_last_save_time"]); t > 0 {
		s.RDBLastSave = time.Unix(t, 0)
	}
	s.RDBSave = configValue(res[4], "save")
	s.AppendFsync = configValue(res[5], "appendfsync")

	if nodes == nil {
		used := atoi64(info["used_memory"])
		node := NodeStats{Role: roleName(info["role"]), UsedMemory: &used}
		for addr := range in.client.Nodes() {
			node.Addr = addr
		}
		s.UsedMemory, s.Nodes = used, []NodeStats{node}
		return s, nil
	}
	s.Nodes = nodes
	clients := in.client.Nodes()
	for i := range s.Nodes {
		nc, ok := clients[s.Nodes[i].Addr]
		if !ok {
			continue
		}
		txt, err := nc.Do(ctx, nc.B().Info().Section("memory").Build()).ToString()
		if err != nil {
			continue // a node down: the others still count
		}
		m := map[string]string{}
		parseInfo(txt, m)
		used := atoi64(m["used_memory"])
		s.Nodes[i].UsedMemory = &used
		s.UsedMemory += used
	}
	return s, nil
}

// parseInfo adds the "key:value" lines of an INFO reply to into.
func parseInfo(txt string, into map[string]string) {
	for _, line := range strings.Split(txt, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			into[k] = v
		}
	}
}

// configValue returns the value of a CONFIG GET reply for name, or nil
// when it failed (a user without the right to read the configuration).
func configValue(r rueidis.RedisResult, name string) *string {
	m, err := r.AsStrMap()
	if err != nil {
		return nil
	}
	v, ok := m[name]
	if !ok {
		return nil
	}
	return &v
}

func roleName(role string) string {
	if role == "slave" {
		return "replica"
	}
	return role
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// parseClusterNodes reads a CLUSTER NODES reply: one line per node,
// "<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong>
// <epoch> <link> <slot>...", ordered by address.
func parseClusterNodes(txt string) []NodeStats {
	var out []NodeStats
	for _, line := range strings.Split(txt, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		n := NodeStats{Addr: addr, ID: f[0], Role: "master"}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "slave":
				n.Role = "replica"
			case "fail", "fail?":
				n.Failing = true
			}
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, slots := range f[8:] {
			if strings.HasPrefix(slots, "[") {
				continue // a slot being migrated or imported
			}
			lo, hi, isRange := strings.Cut(slots, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 == nil && err2 == nil && b >= a {
				n.Slots += b - a + 1
			}
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b NodeStats) int { return strings.Compare(a.Addr, b.Addr) })
	return out
}
