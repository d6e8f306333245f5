package redstream

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/redis/rueidis"
)

// Joining a consumer group, for both consumer kinds: look whether the
// group exists, create it only where it is missing, and register the
// consumer's name in it.
//
// Looking first matters: XGROUP CREATE is a write, and Redis refuses
// writes in some states where it still serves a group's members (OOM
// under maxmemory with noeviction: XREADGROUP and XACK work, XGROUP
// CREATE does not). Joining a group that exists needs no write.

// groupJoin is what joining did on one stream.
type groupJoin struct {
	stream  string
	created bool  // the group was missing and this join created it
	entries int64 // entries the stream held when the group was found missing
}

// joinGroups makes sure group exists on each of streams: it looks (XINFO
// GROUPS, a read) and creates the group at start, with the stream if
// missing, only where it is not there. A group another consumer creates
// meanwhile counts as joined. If the look fails (an old server, or a user
// not allowed XINFO), it creates the group as before, and an existing one
// answers BUSYGROUP.
func joinGroups(ctx context.Context, client rueidis.Client, group, start string, streams []string) ([]groupJoin, error) {
	looks := make(rueidis.Commands, 0, 2*len(streams))
	for _, s := range streams {
		looks = append(looks, client.B().XinfoGroups().Key(s).Build(), client.B().Xlen().Key(s).Build())
	}
	res := client.DoMulti(ctx, looks...)
	joins := make([]groupJoin, len(streams))
	var creates rueidis.Commands
	var missing []int
	for i, s := range streams {
		joins[i].stream = s
		if hasGroup(res[2*i], group) {
			continue
		}
		joins[i].entries, _ = res[2*i+1].AsInt64() // 0 for a missing stream
		if err := aheadOfStream(ctx, client, "create group "+group, s, start); err != nil {
			return nil, err // a StartID in the future would skip what comes until then
		}
		creates = append(creates, client.B().XgroupCreate().Key(s).Group(group).Id(start).Mkstream().Build())
		missing = append(missing, i)
	}
	if len(creates) == 0 {
		return joins, nil
	}
	for j, r := range client.DoMulti(ctx, creates...) {
		i := missing[j]
		switch err := r.Error(); {
		case err == nil:
			joins[i].created = true
		case rueidis.IsRedisBusyGroup(err): // created meanwhile by another consumer
		default:
			return nil, wrapErr("xgroup create", streams[i]+" "+group, err)
		}
	}
	return joins, nil
}

// hasGroup reports whether an XINFO GROUPS reply lists group; false also
// when the look failed (no such key, or refused).
func hasGroup(r rueidis.RedisResult, group string) bool {
	groups, err := r.ToArray()
	if err != nil {
		return false
	}
	for _, g := range groups {
		if m, err := g.AsMap(); err == nil && str(m["name"]) == group {
			return true
		}
	}
	return false
}

// noteCreatedAtEnd says, once per stream, that a group created at "$" on
// a stream that already held entries does not deliver them.
func noteCreatedAtEnd(log *slog.Logger, group, start string, joins []groupJoin) {
	if start != "$" {
		return
	}
	for _, j := range joins {
		if j.created && j.entries > 0 {
			log.Warn("redstream: group " + group + " created at the end of " + j.stream + ": its " +
				pluralEntries(j.entries, "existing entry is", "existing entries are") + " not delivered")
		}
	}
}

// pluralEntries formats "1 existing entry is", "2 existing entries are".
func pluralEntries(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}

// registerConsumer creates the consumer name in group on each of streams
// (XGROUP CREATECONSUMER, Redis 6.2+), so that it is listed (XINFO
// CONSUMERS, the Inspector) from when it joins: Redis itself creates a
// consumer only when a read first hands it entries. It is a convenience:
// where the server is older it is skipped, and where it fails (a write
// refused under maxmemory, say) the failure is logged and the consumer
// works on, listed once it reads entries.
func registerConsumer(ctx context.Context, client rueidis.Client, server ServerInfo, group, name string, streams []string, log *slog.Logger) {
	if !server.AtLeast(6, 2) || len(streams) == 0 {
		return
	}
	cmds := make(rueidis.Commands, 0, len(streams))
	for _, s := range streams {
		cmds = append(cmds, client.B().XgroupCreateconsumer().Key(s).Group(group).Consumer(name).Build())
	}
	for i, r := range client.DoMulti(ctx, cmds...) {
		err := r.Error()
		if err == nil || ctx.Err() != nil {
			continue
		}
		if classify(err) == ErrNoGroup {
			continue // gone again: the next read re-creates it, and registers
		}
		log.Warn("redstream: registering the consumer in the group failed; it is listed once a read hands it entries",
			"stream", streams[i], "err", err)
	}
}

// regroup re-creates group on stream after it disappeared under a
// reader, and registers name in it again. It creates it after lastSeen,
// the last new entry the reader was handed, so that every later entry is
// delivered; when the reader was handed none yet, at start. It logs what
// this means. Another consumer re-creating it first is fine: the group is
// joined where that one put it.
func regroup(ctx context.Context, client rueidis.Client, server ServerInfo, group, name, stream, lastSeen, start string, log *slog.Logger) error {
	at := lastSeen
	if at == "" {
		at = start
	}
	joins, err := joinGroups(ctx, client, group, at, []string{stream})
	if err != nil {
		return err
	}
	switch {
	case !joins[0].created:
		log.Warn("redstream: consumer group disappeared and was re-created by another consumer; joined it where it stands")
	case lastSeen != "":
		log.Warn("redstream: consumer group disappeared; re-created it after the last entry this consumer was handed, "+
			"so every later entry is delivered: those other consumers had been handed and not acknowledged are delivered again; "+
			"entries up to it still pending in the old group are no longer tracked, so any not yet handled successfully are not retried",
			"after", lastSeen)
	default:
		log.Warn("redstream: consumer group disappeared before this consumer was handed any entry; re-created it at the configured start "+
			"(entries pending in the old group are no longer tracked)", "start", start)
		noteCreatedAtEnd(log, group, at, joins)
	}
	registerConsumer(ctx, client, server, group, name, []string{stream}, log)
	return nil
}

// laterID returns the later of two entry IDs; "" counts as before any.
func laterID(a, b string) string {
	pa, errA := ParseID(a)
	pb, errB := ParseID(b)
	switch {
	case errA != nil:
		return b
	case errB != nil || pa.Compare(pb) >= 0:
		return a
	}
	return b
}
