package redstream

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// TopicInfo describes a topic: its partitions, where they live, who owns
// them in each group, and their lag and pending counts.
type TopicInfo struct {
	Topic      string          `json:"topic"`
	Partitions []PartitionInfo `json:"partitions"`
	Groups     []string        `json:"groups"`
}

// PartitionInfo describes one partition of a topic.
type PartitionInfo struct {
	Partition int    `json:"partition"`
	Stream    string `json:"stream"`
	Slot      int    `json:"slot"`
	// Node is the address of the cluster master serving the partition's
	// slot, or "" on a single server.
	Node   string               `json:"node"`
	Length int64                `json:"length"`
	Groups []PartitionGroupInfo `json:"groups"`
}

// PartitionGroupInfo is one group's view of a partition.
type PartitionGroupInfo struct {
	Group string `json:"group"`
	// Owner is the consumer holding the partition's lease ("" when none),
	// Generation the lease's generation and LeaseLeft how long it lasts
	// without renewal.
	Owner      string        `json:"owner"`
	Generation int64         `json:"generation"`
	LeaseLeft  time.Duration `json:"lease_left_ns"`
	Pending    int64         `json:"pending"`
	Lag        *int64        `json:"lag"` // nil when unknown
}

// Topic returns the state of topic name, or an error matching ErrNoTopic.
func (in *Inspector) Topic(ctx context.Context, name string) (*TopicInfo, error) {
	c := in.client
	t, err := OpenTopic(ctx, c, name)
	if err != nil {
		return nil, err
	}
	nodes := in.slotNodes(ctx)
	info := &TopicInfo{Topic: name}
	groups := map[string]bool{}
	for i, s := range t.Streams() {
		p := PartitionInfo{Partition: i, Stream: s, Slot: int(keyslot.Of(s))}
		p.Node = nodes(p.Slot)
		st, err := in.Stream(ctx, s)
		if err == nil {
			p.Length = st.Length
			for _, g := range st.Groups {
				groups[g.Name] = true
				p.Groups = append(p.Groups, PartitionGroupInfo{Group: g.Name, Pending: g.Pending, Lag: g.Lag})
			}
		} else if !isNoStream(err) {
			return nil, err
		}
		info.Partitions = append(info.Partitions, p)
	}
	for g := range groups {
		info.Groups = append(info.Groups, g)
	}
	sort.Strings(info.Groups)
	if len(info.Groups) == 0 {
		return info, nil
	}
	now, err := serverTime(ctx, c)
	if err != nil {
		return nil, err
	}
	for _, g := range info.Groups {
		leases, err := c.Do(ctx, c.B().Hgetall().Key("{"+name+"}:group:"+g).Build()).AsStrMap()
		if err != nil {
			return nil, wrapErr("topic leases", name+" "+g, err)
		}
		for i := range info.Partitions {
			v, ok := leases["p:"+strconv.Itoa(i)]
			if !ok {
				continue
			}
			owner, rest, _ := cutLast(v)
			gen, expS, _ := strings.Cut(rest, "|")
			exp, _ := strconv.ParseInt(expS, 10, 64)
			if exp < now {
				continue // expired: free
			}
			for j := range info.Partitions[i].Groups {
				pg := &info.Partitions[i].Groups[j]
				if pg.Group == g {
					pg.Owner = owner
					pg.Generation, _ = strconv.ParseInt(gen, 10, 64)
					pg.LeaseLeft = time.Duration(exp-now) * time.Millisecond
				}
			}
		}
	}
	return info, nil
}

// cutLast splits "owner|gen|exp" into the owner (which may itself contain
// no "|") and "gen|exp".
func cutLast(v string) (owner, rest string, ok bool) {
	i := strings.LastIndex(v, "|")
	if i < 0 {
		return v, "", false
	}
	j := strings.LastIndex(v[:i], "|")
	if j < 0 {
		return v, "", false
	}
	return v[:j], v[j+1:], true
}

func isNoStream(err error) bool { return errors.Is(err, ErrNoStream) }

// serverTime returns the server's clock in milliseconds.
func serverTime(ctx context.Context, c rueidis.Client) (int64, error) {
	t, err := c.Do(ctx, c.B().Time().Build()).AsStrSlice()
	if err != nil || len(t) != 2 {
		return 0, wrapErr("time", "", err)
	}
	sec, _ := strconv.ParseInt(t[0], 10, 64)
	usec, _ := strconv.ParseInt(t[1], 10, 64)
	return sec*1000 + usec/1000, nil
}

// slotNodes returns a lookup from hash slot to the address of the master
// serving it, from CLUSTER SLOTS; on a single server it answers "".
func (in *Inspector) slotNodes(ctx context.Context) func(int) string {
	none := func(int) string { return "" }
	if in.client.Mode() != rueidis.ClientModeCluster {
		return none
	}
	rows, err := in.client.Do(ctx, in.client.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return none
	}
	type span struct {
		lo, hi int64
		addr   string
	}
	var spans []span
	for _, r := range rows {
		cols, err := r.ToArray()
		if err != nil || len(cols) < 3 {
			continue
		}
		lo, _ := cols[0].AsInt64()
		hi, _ := cols[1].AsInt64()
		master, err := cols[2].ToArray()
		if err != nil || len(master) < 2 {
			continue
		}
		host, _ := master[0].ToString()
		port, _ := master[1].AsInt64()
		spans = append(spans, span{lo, hi, host + ":" + strconv.FormatInt(port, 10)})
	}
	return func(slot int) string {
		for _, s := range spans {
			if int64(slot) >= s.lo && int64(slot) <= s.hi {
				return s.addr
			}
		}
		return ""
	}
}
