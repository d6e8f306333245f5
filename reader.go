package redstream

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// streamReader reads new entries of one stream for one consumer name, on
// a connection of its own, so that stopping can interrupt its blocked
// XREADGROUP with CLIENT UNBLOCK: the server then answers the read
// normally (with nothing, or with entries it already handed over, which
// the caller handles), and no entry is left delivered but unseen. Both
// consumer kinds read through it: a Consumer per stream, a TopicConsumer
// per partition it owns. The acknowledgements a read carries go first in
// the same round trip.
type streamReader struct {
	client rueidis.Client
	stream string
	group  string
	name   string

	stopping <-chan struct{} // closed: stop reading (unblock the read)
	ctx      context.Context // canceled with stopping
	hard     context.Context // canceled: abandon the read
	dc       rueidis.DedicatedClient
	cancel   func()
	id       atomic.Int64 // the connection's CLIENT ID; 0 when unknown
	// node is the cluster node the connection is on: a CLIENT ID means
	// something only there, and the cluster client would send CLIENT
	// UNBLOCK (a command without a key) to any node.
	node atomic.Pointer[rueidis.Client]

	exited chan struct{}
}

// newStreamReader returns a reader; close it when done. Until then it
// watches stopping to unblock its read.
func newStreamReader(client rueidis.Client, stream, group, name string, stopping <-chan struct{}, ctx, hard context.Context) *streamReader {
	r := &streamReader{client: client, stream: stream, group: group, name: name,
		stopping: stopping, ctx: ctx, hard: hard, exited: make(chan struct{})}
	go r.unblockOnStop()
	return r
}

func (r *streamReader) close() {
	close(r.exited)
	if r.cancel != nil {
		r.cancel()
	}
}

// connect dedicates a connection to the stream's node and learns its ID.
func (r *streamReader) connect() {
	r.dc, r.cancel = r.client.Dedicate()
	r.id.Store(0)
	// A keyed command first pins a cluster connection to the stream's node.
	if err := r.dc.Do(r.ctx, r.dc.B().Exists().Key(r.stream).Build()).Error(); err != nil {
		return
	}
	if id, err := r.dc.Do(r.ctx, r.dc.B().ClientId().Build()).AsInt64(); err == nil {
		r.id.Store(id)
	}
	if r.client.Mode() == rueidis.ClientModeCluster {
		r.node.Store(nil)
		if n := r.nodeOfConnection(); n != nil {
			r.node.Store(n)
		} else {
			r.id.Store(0) // no way to unblock it: stopping cancels the read instead
		}
	}
}

// nodeOfConnection finds the node the dedicated connection is on, from
// the address CLIENT INFO says it reached (Redis 6.2+).
func (r *streamReader) nodeOfConnection() *rueidis.Client {
	info, err := r.dc.Do(r.ctx, r.dc.B().ClientInfo().Build()).ToString()
	if err != nil {
		return nil
	}
	for _, f := range strings.Fields(info) {
		if addr, ok := strings.CutPrefix(f, "laddr="); ok {
			if n, ok := r.client.Nodes()[addr]; ok {
				return &n
			}
		}
	}
	return nil
}

func (r *streamReader) reset() {
	if r.cancel != nil {
		r.cancel()
	}
	r.dc, r.cancel = nil, nil
	r.id.Store(0)
}

// unblockable reports whether a blocked read can be interrupted with
// CLIENT UNBLOCK, so that a stop never cancels it (known after the first
// read has connected).
func (r *streamReader) unblockable() bool { return r.id.Load() != 0 }

// read acknowledges acks (IDs of this stream, if any) and reads up to n
// new entries, blocking at most block (not at all when block is 0), in
// one round trip. It returns the
// entries, how many acks Redis confirmed, and the XACK's error (the acks
// are then to be sent again) apart from the read's.
func (r *streamReader) read(n int, block time.Duration, acks []string) (msgs []*Message, acked int64, ackErr, err error) {
	if r.dc == nil {
		r.connect()
	}
	// Without a CLIENT ID the read cannot be unblocked from outside; then
	// stopping cancels it, which closes the connection.
	ctx := r.hard
	if r.id.Load() == 0 {
		ctx = r.ctx
	}
	var reply rueidis.RedisMessage
	if len(acks) > 0 {
		// With acks to send, the read does not block: an ack must not wait
		// for new entries, and a pipeline with a blocking read is slow.
		// When it finds nothing, the next read blocks, with no acks.
		read := r.dc.B().Xreadgroup().Group(r.group, r.name).Count(int64(n)).Streams().Key(r.stream).Id(">").Build()
		res := r.dc.DoMulti(ctx, r.dc.B().Xack().Key(r.stream).Group(r.group).Id(acks...).Build(), read)
		if acked, ackErr = res[0].AsInt64(); ackErr != nil {
			ackErr = wrapErr("xack", r.stream+" "+r.group, ackErr)
		}
		reply, err = res[1].ToMessage()
	} else if block <= 0 {
		read := r.dc.B().Xreadgroup().Group(r.group, r.name).Count(int64(n)).Streams().Key(r.stream).Id(">").Build()
		reply, err = r.dc.Do(ctx, read).ToMessage()
	} else {
		read := r.dc.B().Xreadgroup().Group(r.group, r.name).Count(int64(n)).
			Block(max(block.Milliseconds(), 1)).Streams().Key(r.stream).Id(">").Build()
		reply, err = r.dc.Do(ctx, read).ToMessage()
	}
	if err == nil {
		if msgs, err = parseXRead(&reply, r.stream); err == nil {
			return msgs, acked, ackErr, nil
		}
	}
	if rueidis.IsRedisNil(err) {
		return nil, acked, ackErr, nil // the block timed out, or CLIENT UNBLOCK
	}
	// A broken connection is not reused, and neither is one pinned to a
	// node that no longer serves the stream (MOVED after a reshard, or a
	// failover): the next read dedicates a new one, routed afresh.
	r.reset()
	return nil, acked, ackErr, wrapErr("xreadgroup", r.stream+" "+r.group, err)
}

// unblock interrupts the reader's blocked read, if it is in one and the
// server allows CLIENT UNBLOCK; the read then returns nothing at once.
func (r *streamReader) unblock() {
	if id := r.id.Load(); id != 0 {
		ctx, cancel := context.WithTimeout(r.hard, time.Second)
		c := r.client
		if n := r.node.Load(); n != nil {
			c = *n
		}
		_ = c.Do(ctx, c.B().ClientUnblock().ClientId(id).Build()).Error()
		cancel()
	}
}

// unblockOnStop sends CLIENT UNBLOCK for the reader's connection once
// reading stops, repeating briefly in case the read was just being sent,
// until the reader has exited.
func (r *streamReader) unblockOnStop() {
	select {
	case <-r.stopping:
	case <-r.exited:
		return
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		r.unblock()
		select {
		case <-r.exited:
			return
		case <-r.hard.Done():
			return
		case <-t.C:
		}
	}
}

// parseXRead turns an XREADGROUP reply for one stream into messages (first
// deliveries). It allocates the messages and their fields in two blocks
// per reply rather than per entry: this is the consumer's hot path.
func parseXRead(reply *rueidis.RedisMessage, stream string) ([]*Message, error) {
	if reply.IsNil() {
		return nil, nil
	}
	var entries []rueidis.RedisMessage
	if reply.IsMap() { // RESP3: {stream: entries}
		kv, err := reply.ToMap()
		if err != nil {
			return nil, err
		}
		e, ok := kv[stream]
		if !ok {
			return nil, nil
		}
		if entries, err = e.ToArray(); err != nil {
			return nil, err
		}
	} else { // RESP2: [[stream, entries]]
		streams, err := reply.ToArray()
		if err != nil {
			return nil, err
		}
		for i := range streams {
			pair, err := streams[i].ToArray()
			if err != nil || len(pair) != 2 {
				return nil, fmt.Errorf("unexpected XREADGROUP reply")
			}
			if name, _ := pair[0].ToString(); name == stream {
				if entries, err = pair[1].ToArray(); err != nil {
					return nil, err
				}
			}
		}
	}
	total := 0
	raws := make([][]rueidis.RedisMessage, len(entries))
	for i := range entries {
		e, err := entries[i].ToArray()
		if err != nil || len(e) != 2 {
			return nil, fmt.Errorf("unexpected stream entry in XREADGROUP reply")
		}
		if e[1].IsNil() {
			continue // deleted; XREADGROUP > never returns these
		}
		kv, err := e[1].ToArray()
		if err != nil {
			return nil, err
		}
		raws[i] = kv
		total += len(kv) / 2
	}
	block := make([]Message, len(entries))
	fields := make([]Field, total)
	msgs := make([]*Message, 0, len(entries))
	for i := range entries {
		if raws[i] == nil {
			continue
		}
		e, _ := entries[i].ToArray()
		id, err := e[0].ToString()
		if err != nil {
			return nil, err
		}
		kv := raws[i]
		n := len(kv) / 2
		fs := fields[:n:n]
		fields = fields[n:]
		for j := range fs {
			fs[j].Name, _ = kv[2*j].ToString()
			fs[j].Value, _ = kv[2*j+1].ToString()
		}
		m := &block[i]
		m.ID, m.Stream, m.Deliveries = id, stream, 1
		m.Headers, m.Fields = splitHeaders(fs)
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// nextID returns the smallest entry ID after id, for an exclusive range
// start that servers without "(" support understand too.
func nextID(id string) string {
	p, err := ParseID(id)
	if err != nil {
		return "+" // cannot happen for IDs Redis returned; end the range
	}
	if p.Seq == math.MaxUint64 {
		return ID{Ms: p.Ms + 1}.String()
	}
	return ID{Ms: p.Ms, Seq: p.Seq + 1}.String()
}

// asEntries parses a reply holding stream entries (XRANGE, XCLAIM),
// skipping the nil elements some servers return for deleted entries.
func asEntries(r rueidis.RedisResult) ([]rueidis.XRangeSlice, error) {
	m, err := r.ToMessage()
	if err != nil {
		return nil, err
	}
	return entriesOf(&m)
}

func entriesOf(m *rueidis.RedisMessage) ([]rueidis.XRangeSlice, error) {
	arr, err := m.ToArray()
	if err != nil {
		return nil, err
	}
	out := make([]rueidis.XRangeSlice, 0, len(arr))
	for i := range arr {
		if arr[i].IsNil() {
			continue
		}
		e, err := arr[i].AsXRangeSlice()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func newMessage(stream string, e rueidis.XRangeSlice, deliveries int) *Message {
	fields := make([]Field, len(e.FieldValues))
	for i, fv := range e.FieldValues {
		fields[i] = Field{Name: fv.Field, Value: fv.Value}
	}
	m := &Message{ID: e.ID, Stream: stream, Deliveries: deliveries}
	m.Headers, m.Fields = splitHeaders(fields)
	return m
}
