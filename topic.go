package redstream

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/keyslot"
)

// MaxPartitions bounds a topic's partition count.
const MaxPartitions = 1024

// KeyField is the field a keyed publish to a topic stores the key in. It
// is the entry's first field; consumers of the topic use it to keep each
// key's events in order.
const KeyField = "redstream:key"

// ErrNoTopic reports a topic whose metadata does not exist.
var ErrNoTopic = errors.New("redstream: topic does not exist")

// ErrTopicExists reports CreateTopic on a topic that exists with another
// partition count.
var ErrTopicExists = errors.New("redstream: topic exists with another partition count")

// Topic is a stream split into partitions: one stream per partition, each
// key hash-tagged so that a Redis Cluster spreads the partitions over its
// masters. Its partition count is fixed at creation and kept in Redis, so
// every publisher and consumer agrees on it. A Topic is immutable and safe
// for concurrent use.
//
// Layout, so that anyone can work out where a key goes:
//
//   - metadata: a hash at "{<topic>}:meta" with "partitions" and the
//     partition stream keys "p0", "p1", ...
//   - partition i: the stream "<topic>:<i>{<tag>}" where tag is
//     "<topic>:<i>:<k>" for the smallest k >= 0 whose hash slot lies in
//     the i-th of N equal ranges of the 16384 slots (PartitionKeys). Equal
//     slot ranges are what redis-cli gives each master, so N partitions
//     spread evenly over the masters.
//   - a key goes to partition FNV-1a-32(key) mod N (PartitionOf).
type Topic struct {
	Name string
	keys []string
	next atomic.Uint64 // round robin for unkeyed events
}

// Partitions returns the topic's partition count.
func (t *Topic) Partitions() int { return len(t.keys) }

// Stream returns the stream key of partition i.
func (t *Topic) Stream(i int) string { return t.keys[i] }

// Streams returns the stream keys of all partitions, in order.
func (t *Topic) Streams() []string { return append([]string(nil), t.keys...) }

// Partition returns the partition an event with key goes to; an empty key
// takes the next partition in turn, spreading unkeyed events evenly.
func (t *Topic) Partition(key string) int {
	if key == "" {
		return int(t.next.Add(1)-1) % len(t.keys)
	}
	return PartitionOf(key, len(t.keys))
}

// PartitionOf returns FNV-1a-32(key) mod n, the partition of key in a
// topic of n partitions.
func PartitionOf(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// PartitionKeys returns the stream keys of a topic's n partitions, as
// described on Topic.
func PartitionKeys(topic string, n int) []string {
	keys := make([]string, n)
	for i := range n {
		lo := i * keyslot.Slots / n
		hi := (i + 1) * keyslot.Slots / n
		for k := 0; ; k++ {
			tag := topic + ":" + strconv.Itoa(i) + ":" + strconv.Itoa(k)
			if s := int(keyslot.Of("{" + tag + "}")); s >= lo && s < hi {
				keys[i] = topic + ":" + strconv.Itoa(i) + "{" + tag + "}"
				break
			}
		}
	}
	return keys
}

func topicMetaKey(topic string) string { return "{" + topic + "}:meta" }

// topicGroupsKey is the set of a topic's consumer groups; each group's
// leases live in "{<topic>}:group:<group>".
func topicGroupsKey(topic string) string { return "{" + topic + "}:groups" }

func checkTopicName(name string) error {
	if name == "" || strings.ContainsAny(name, "{}") {
		return fmt.Errorf("%w: topic name %q must be non-empty and without braces", ErrInvalidOption, name)
	}
	return nil
}

// createTopicScript stores a topic's metadata unless it exists; it
// returns the stored partition count.
var createTopicScript = rueidis.NewLuaScript(`
local n = redis.call('HGET', KEYS[1], 'partitions')
if n then return tonumber(n) end
redis.call('HSET', KEYS[1], 'partitions', ARGV[1])
for i = 2, #ARGV do
  redis.call('HSET', KEYS[1], 'p' .. (i - 2), ARGV[i])
end
return tonumber(ARGV[1])
`)

// CreateTopic creates the topic name with n partitions, or opens it if it
// exists with n partitions; with another count it returns an error
// matching ErrTopicExists. Partition streams are created by the first
// publish or consumer.
func CreateTopic(ctx context.Context, client rueidis.Client, name string, n int) (*Topic, error) {
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	if n < 1 || n > MaxPartitions {
		return nil, fmt.Errorf("%w: partitions must be between 1 and %d, got %d", ErrInvalidOption, MaxPartitions, n)
	}
	keys := PartitionKeys(name, n)
	got, err := createTopicScript.Exec(ctx, client, []string{topicMetaKey(name)}, append([]string{strconv.Itoa(n)}, keys...)).AsInt64()
	if err != nil {
		return nil, wrapErr("create topic", name, err)
	}
	if int(got) != n {
		return nil, &Error{Op: "create topic", Key: name, Kind: ErrTopicExists, Err: fmt.Errorf("it has %d partitions, not %d", got, n)}
	}
	return &Topic{Name: name, keys: keys}, nil
}

// OpenTopic reads the topic's metadata, or returns an error matching
// ErrNoTopic.
func OpenTopic(ctx context.Context, client rueidis.Client, name string) (*Topic, error) {
	if err := checkTopicName(name); err != nil {
		return nil, err
	}
	m, err := client.Do(ctx, client.B().Hgetall().Key(topicMetaKey(name)).Build()).AsStrMap()
	if err != nil {
		return nil, wrapErr("open topic", name, err)
	}
	n, err := strconv.Atoi(m["partitions"])
	if err != nil || n < 1 {
		return nil, &Error{Op: "open topic", Key: name, Kind: ErrNoTopic}
	}
	keys := make([]string, n)
	for i := range keys {
		if keys[i] = m["p"+strconv.Itoa(i)]; keys[i] == "" {
			return nil, &Error{Op: "open topic", Key: name, Kind: ErrNoTopic, Err: fmt.Errorf("metadata lacks partition %d", i)}
		}
	}
	return &Topic{Name: name, keys: keys}, nil
}

// DeleteTopic deletes the topic's partition streams, their dead-letter
// streams, its metadata and its consumer groups' coordination keys.
func DeleteTopic(ctx context.Context, client rueidis.Client, name string) error {
	t, err := OpenTopic(ctx, client, name)
	if err != nil {
		return err
	}
	cmds := make(rueidis.Commands, 0, 2*len(t.keys)+1)
	for _, k := range t.keys {
		cmds = append(cmds, client.B().Del().Key(k).Build(), client.B().Del().Key(DeadLetterKey(k)).Build())
	}
	for _, r := range client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return wrapErr("delete topic", name, err)
		}
	}
	// Coordination keys all carry the topic's hash tag: one slot.
	groups, err := client.Do(ctx, client.B().Smembers().Key(topicGroupsKey(name)).Build()).AsStrSlice()
	if err != nil {
		return wrapErr("delete topic", name, err)
	}
	keys := []string{topicMetaKey(name), topicGroupsKey(name)}
	for _, g := range groups {
		keys = append(keys, "{"+name+"}:group:"+g)
	}
	if err := client.Do(ctx, client.B().Del().Key(keys...).Build()).Error(); err != nil {
		return wrapErr("delete topic", name, err)
	}
	return nil
}

// KeyedEntry is one event for PublishTopic: a key (may be empty) and the
// entry's fields.
type KeyedEntry struct {
	Key    string
	Fields []Field
	// MsgID, when not empty, de-duplicates the event within its
	// partition's dedupe window, as Entry.MsgID does for a stream.
	MsgID string
	// Headers are written with the event, as Entry.Headers are.
	Headers []Field
}

// TopicReceipt says where a topic event went.
type TopicReceipt struct {
	Partition int
	ID        string
	// Duplicate reports that an event with the same MsgID was written to
	// the partition within the dedupe window: ID is that event's.
	Duplicate bool
}

// PublishTopic appends events to their partitions of t: each event with a
// key to partition PartitionOf(key), storing the key as the entry's first
// field (KeyField); events without a key spread evenly. Events of one key
// keep their order. If an event fails while later events of its key were
// written, publishing it again puts it after them: to keep a key's order,
// republish from its first failed event on. The events are grouped per partition and pipelined,
// so a cluster client sends each node its share in one round trip. If
// some fail, receipts of those have an empty ID and the error is a
// *BatchError.
func (p *Publisher) PublishTopic(ctx context.Context, t *Topic, events ...KeyedEntry) ([]TopicReceipt, error) {
	entries, parts := t.entries(events)
	receipts := make([]TopicReceipt, len(events))
	for i, part := range parts {
		receipts[i].Partition = part
	}
	sent, err := p.publishEntriesTraced(ctx, PublishCall{Entries: entries, Topic: t.Name, Partitions: parts})
	for i := range sent {
		receipts[i].ID, receipts[i].Duplicate = sent[i].ID, sent[i].Duplicate
	}
	return receipts, err
}

// entries returns the stream entries of events and their partitions.
func (t *Topic) entries(events []KeyedEntry) ([]Entry, []int) {
	entries := make([]Entry, len(events))
	parts := make([]int, len(events))
	for i, e := range events {
		part := t.Partition(e.Key)
		entries[i] = Entry{Stream: t.Stream(part), Fields: keyed(e), MsgID: e.MsgID, Headers: e.Headers}
		parts[i] = part
	}
	return entries, parts
}

// keyed returns the fields of a topic event: its key (KeyField) first,
// if it has one, then its own fields.
func keyed(e KeyedEntry) []Field {
	if e.Key == "" {
		return e.Fields
	}
	fields := make([]Field, 0, len(e.Fields)+1)
	fields = append(fields, Field{Name: KeyField, Value: e.Key})
	return append(fields, e.Fields...)
}

// ReplicaAcks reports how many replicas confirmed having a write, as WAIT
// answered for the partition it went to.
type ReplicaAcks struct {
	Partition int
	Replicas  int64
}

// PublishTopicWait is PublishTopic followed, on each partition's node, by
// WAIT replicas timeout: it returns the receipts in the order of events
// and how many replicas acknowledged each partition's writes. A write
// acknowledged by a replica survives a failover that promotes it. The
// receipts and errors are as for PublishTopic; a WAIT that fails (a lost
// connection) is also the error of each event of its partition, whose
// receipts still carry the IDs of what Redis accepted.
func (p *Publisher) PublishTopicWait(ctx context.Context, t *Topic, replicas int, timeout time.Duration, events ...KeyedEntry) ([]TopicReceipt, []ReplicaAcks, error) {
	if replicas < 0 || timeout <= 0 {
		return nil, nil, fmt.Errorf("%w: PublishTopicWait needs replicas >= 0 and a positive timeout (WAIT 0 blocks forever)", ErrInvalidOption)
	}
	entries, parts := t.entries(events)
	byPart := map[int][]int{} // partition -> indices into events
	var order []int
	for i, part := range parts {
		if _, ok := byPart[part]; !ok {
			order = append(order, part)
		}
		byPart[part] = append(byPart[part], i)
	}
	var done func([]string, error)
	if p.tracer != nil && len(entries) > 0 {
		handHeadersAll(entries)
		call := PublishCall{Entries: entries, Topic: t.Name, Partitions: parts}
		done = p.tracer.TracePublish(ctx, &call)
	}
	// Build (and so check) every command before sending any, with the
	// headers a tracer added.
	perPart := map[int]rueidis.Commands{}
	for _, part := range order {
		cmds := make(rueidis.Commands, 0, len(byPart[part])+1)
		for _, i := range byPart[part] {
			cmd, err := p.entryCmd(entries[i])
			if err != nil {
				err = fmt.Errorf("event %d: %w", i, err)
				if done != nil {
					done(nil, err)
				}
				return nil, nil, err
			}
			cmds = append(cmds, cmd)
		}
		perPart[part] = cmds
	}
	receipts := make([]TopicReceipt, len(events))
	acks := make([]ReplicaAcks, 0, len(order))
	var errs []error // one per event once any failed
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(events))
		}
		errs[i] = err
	}
	for _, part := range order {
		cmds := perPart[part]
		// One dedicated connection per partition: WAIT counts the writes
		// of its own connection, so it must follow them on the same one.
		dc, release := p.client.Dedicate()
		cmds = append(cmds, dc.B().Wait().Numreplicas(int64(replicas)).Timeout(timeout.Milliseconds()).Build())
		res := dc.DoMulti(ctx, cmds...)
		release()
		for j, i := range byPart[part] {
			receipts[i].Partition = part
			rc, err := receiptOf(res[j], events[i].MsgID != "")
			if err != nil {
				fail(i, wrapErr("xadd", t.Stream(part), err))
				p.metrics.Published(t.Stream(part), 1, errs[i])
				continue
			}
			receipts[i].ID, receipts[i].Duplicate = rc.ID, rc.Duplicate
			if !rc.Duplicate {
				p.metrics.Published(t.Stream(part), 1, nil)
			}
		}
		n, err := res[len(res)-1].AsInt64()
		if err != nil {
			// The writes are unconfirmed: each written event of the
			// partition keeps its ID and carries the WAIT's error.
			for _, i := range byPart[part] {
				if errs == nil || errs[i] == nil {
					fail(i, wrapErr("wait", t.Stream(part), err))
				}
			}
		}
		acks = append(acks, ReplicaAcks{Partition: part, Replicas: n})
	}
	var err error
	if errs != nil {
		err = &BatchError{Errs: errs}
	}
	if done != nil {
		ids := make([]string, len(receipts))
		for i, r := range receipts {
			ids[i] = r.ID
		}
		done(ids, err)
	}
	return receipts, acks, err
}
