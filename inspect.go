package redstream

import (
	"context"
	"fmt"
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
	client rueidis.Client
}

// NewInspector returns an Inspector that reads through client.
func NewInspector(client rueidis.Client) *Inspector {
	return &Inspector{client: client}
}

// StreamInfo describes a stream and its consumer groups.
type StreamInfo struct {
	Stream          string      `json:"stream"`
	Length          int64       `json:"length"`
	FirstID         string      `json:"first_id"` // "" when empty
	LastID          string      `json:"last_id"`  // "" when empty
	LastGeneratedID string      `json:"last_generated_id"`
	Groups          []GroupInfo `json:"groups"`
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
}

// ConsumerInfo describes one consumer of a group.
type ConsumerInfo struct {
	Name    string        `json:"name"`
	Pending int64         `json:"pending"`
	Idle    time.Duration `json:"idle_ns"` // since its last attempted read or claim
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
	info := &StreamInfo{Stream: stream}
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
			info.Groups[i].Consumers = append(info.Groups[i].Consumers, ConsumerInfo{
				Name:    str(cm["name"]),
				Pending: integer(cm["pending"]),
				Idle:    time.Duration(integer(cm["idle"])) * time.Millisecond,
			})
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
