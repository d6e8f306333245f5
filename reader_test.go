package redstream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/redstreamtest"
)

// Helpers for the tests of the consumer's parts that need a real server
// (reader, acker, keep-alive, claimer). Each test starts its own
// redis-server: some change its ACLs.

// partsServer starts a redis-server for the test and returns a RESP3
// client of it.
func partsServer(t *testing.T) (*redstreamtest.Server, rueidis.Client) {
	t.Helper()
	srv := redstreamtest.StartRedis(t)
	return srv, srv.Client(t)
}

// resp2Client returns a client of srv that speaks RESP2.
func resp2Client(t *testing.T, srv *redstreamtest.Server) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true, AlwaysRESP2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// redisDo runs one command and fails the test on an error reply.
func redisDo(t *testing.T, c rueidis.Client, args ...string) rueidis.RedisMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := c.Do(ctx, c.B().Arbitrary(args...).Build()).ToMessage()
	if err != nil && !rueidis.IsRedisNil(err) {
		t.Fatalf("%v: %v", args, err)
	}
	return m
}

// addEntries appends n entries with fields i=<n> and k=v, and returns
// their IDs.
func addEntries(t *testing.T, c rueidis.Client, stream string, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		m := redisDo(t, c, "XADD", stream, "*", "i", strconv.Itoa(i), "k", "v")
		ids[i], _ = m.ToString()
	}
	return ids
}

// makeGroup creates group on stream (and the stream), starting at 0.
func makeGroup(t *testing.T, c rueidis.Client, stream, group string) {
	t.Helper()
	redisDo(t, c, "XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
}

// readAs reads up to n new entries as consumer, so they are pending to
// it, and returns their IDs.
func readAs(t *testing.T, c rueidis.Client, stream, group, consumer string, n int) []string {
	t.Helper()
	m := redisDo(t, c, "XREADGROUP", "GROUP", group, consumer, "COUNT", strconv.Itoa(n), "STREAMS", stream, ">")
	msgs, err := parseXRead(&m, stream)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, msg := range msgs {
		ids[i] = msg.ID
	}
	return ids
}

// pendingEntry is one row of the group's pending list.
type pendingEntry struct {
	owner      string
	idle       time.Duration
	deliveries int64
}

func (e pendingEntry) String() string {
	return fmt.Sprintf("{owner %s, idle %v, deliveries %d}", e.owner, e.idle, e.deliveries)
}

// describe lists messages as ID:deliveries:fields, for failure messages.
func describe(msgs []*Message) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%s:%d:%s", m.ID, m.Deliveries, fieldsString(m.Fields))
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// pendingOf returns the group's pending list by entry ID.
func pendingOf(t *testing.T, c rueidis.Client, stream, group string) map[string]pendingEntry {
	t.Helper()
	m := redisDo(t, c, "XPENDING", stream, group, "-", "+", "10000")
	rows, err := m.ToArray()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]pendingEntry, len(rows))
	for _, row := range rows {
		cols, err := row.ToArray()
		if err != nil || len(cols) != 4 {
			t.Fatalf("xpending row %v: %v", row, err)
		}
		id, _ := cols[0].ToString()
		owner, _ := cols[1].ToString()
		idle, _ := cols[2].AsInt64()
		n, _ := cols[3].AsInt64()
		out[id] = pendingEntry{owner: owner, idle: time.Duration(idle) * time.Millisecond, deliveries: n}
	}
	return out
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testReader is a streamReader with the channels and contexts a consumer
// would give it.
type testReader struct {
	*streamReader
	stopping chan struct{}
	stopRead context.CancelFunc
	stopHard context.CancelFunc
}

func newTestReader(t *testing.T, c rueidis.Client, stream, group, name string) *testReader {
	t.Helper()
	hard, stopHard := context.WithCancel(context.Background())
	ctx, stopRead := context.WithCancel(hard)
	stopping := make(chan struct{})
	r := &testReader{streamReader: newStreamReader(c, stream, group, name, stopping, ctx, hard),
		stopping: stopping, stopRead: stopRead, stopHard: stopHard}
	t.Cleanup(func() { r.close(); stopHard() })
	return r
}

type readResult struct {
	msgs   []*Message
	acked  int64
	ackErr error
	err    error
}

func (r *testReader) readAsync(n int, block time.Duration, acks []string) <-chan readResult {
	ch := make(chan readResult, 1)
	go func() {
		msgs, acked, ackErr, err := r.read(n, block, acks)
		ch <- readResult{msgs, acked, ackErr, err}
	}()
	return ch
}

func fieldsString(fs []Field) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "%s=%s ", f.Name, f.Value)
	}
	return strings.TrimSpace(b.String())
}

// Catches: a read that does not return what XREADGROUP handed over (IDs,
// fields, stream, first delivery), acks that are not sent with the read
// (or are sent but not counted), a read that acks more than it was given,
// and a parser that only understands one protocol's reply shape.
func TestStreamReaderReadsAndAcksInOneCall(t *testing.T) {
	srv, c3 := partsServer(t)
	for _, tc := range []struct {
		name   string
		client rueidis.Client
	}{{"RESP3", c3}, {"RESP2", resp2Client(t, srv)}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			stream := "s:" + tc.name
			makeGroup(t, c, stream, "g")
			first := addEntries(t, c, stream, 3)
			rd := newTestReader(t, c, stream, "g", "me")

			got := <-rd.readAsync(10, 100*time.Millisecond, nil)
			if got.err != nil || got.ackErr != nil || got.acked != 0 {
				t.Fatalf("read: %+v", got)
			}
			if len(got.msgs) != 3 {
				t.Fatalf("read %d entries, want 3", len(got.msgs))
			}
			for i, m := range got.msgs {
				if m.ID != first[i] || m.Stream != stream || m.Deliveries != 1 ||
					fieldsString(m.Fields) != fmt.Sprintf("i=%d k=v", i) {
					t.Fatalf("entry %d = %+v, want ID %s, stream %s, deliveries 1, fields i=%d k=v", i, m, first[i], stream, i)
				}
			}
			if p := pendingOf(t, c, stream, "g"); len(p) != 3 || p[first[0]].owner != "me" {
				t.Fatalf("pending after read: %v", p)
			}

			second := addEntries(t, c, stream, 2)
			got = <-rd.readAsync(10, time.Second, first[:2])
			if got.err != nil || got.ackErr != nil {
				t.Fatalf("read with acks: %+v", got)
			}
			if got.acked != 2 {
				t.Fatalf("read with 2 acks confirmed %d", got.acked)
			}
			if len(got.msgs) != 2 || got.msgs[0].ID != second[0] || got.msgs[1].ID != second[1] {
				t.Fatalf("read with acks returned %s, want the 2 new entries", describe(got.msgs))
			}
			p := pendingOf(t, c, stream, "g")
			if _, ok := p[first[0]]; ok || len(p) != 3 {
				t.Fatalf("pending after acking 2 of 5: %v, want %s and the 2 new ones", p, first[2])
			}
			if _, ok := p[first[2]]; !ok {
				t.Fatalf("an entry that was not in the acks was acked: %v", p)
			}
		})
	}
}

// Catches: a read with a block of 0 sent as BLOCK 0, which in Redis
// waits for ever: such a read must not block at all.
func TestStreamReaderReadWithBlockZeroDoesNotBlock(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	rd := newTestReader(t, c, "s", "g", "me")
	select {
	case got := <-rd.readAsync(10, 0, nil):
		if got.err != nil || len(got.msgs) != 0 {
			t.Fatalf("read with block 0 on an idle stream: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read with block 0 blocked on an idle stream")
	}
	ids := addEntries(t, c, "s", 1)
	got := <-rd.readAsync(10, 0, nil)
	if got.err != nil || len(got.msgs) != 1 || got.msgs[0].ID != ids[0] {
		t.Fatalf("read with block 0 = %+v, want the entry", got)
	}
}

// Catches: a read carrying acks that blocks for new entries (acks would
// wait out a whole Block on an idle stream: 30s here).
func TestStreamReaderReadWithAcksDoesNotBlock(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	ids := addEntries(t, c, "s", 1)
	readAs(t, c, "s", "g", "me", 1)
	rd := newTestReader(t, c, "s", "g", "me")
	select {
	case got := <-rd.readAsync(10, 30*time.Second, ids):
		if got.err != nil || got.ackErr != nil || got.acked != 1 || len(got.msgs) != 0 {
			t.Fatalf("read with acks on an idle stream: %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a read carrying acks blocked on an idle stream")
	}
}

// Catches: a failed XACK that fails the read with it (entries read are
// then lost to the caller), or that is not reported (the acks would not be
// put back and sent again).
func TestStreamReaderAckFailureIsApartFromTheRead(t *testing.T) {
	_, c := partsServer(t)
	makeGroup(t, c, "s", "g")
	old := addEntries(t, c, "s", 1)
	readAs(t, c, "s", "g", "me", 1)
	fresh := addEntries(t, c, "s", 1)
	redisDo(t, c, "ACL", "SETUSER", "default", "-xack")
	rd := newTestReader(t, c, "s", "g", "me")
	got := <-rd.readAsync(10, time.Second, old)
	if got.err != nil {
		t.Fatalf("the read failed with the ack: %v", got.err)
	}
	if got.ackErr == nil || !errors.Is(got.ackErr, ErrNoPermission) {
		t.Fatalf("ackErr = %v, want the XACK's NOPERM (ErrNoPermission)", got.ackErr)
	}
	if len(got.msgs) != 1 || got.msgs[0].ID != fresh[0] {
		t.Fatalf("read returned %s, want the new entry", describe(got.msgs))
	}
	if _, ok := pendingOf(t, c, "s", "g")[old[0]]; !ok {
		t.Fatal("the entry whose XACK was refused is not pending")
	}
}

// waitBlocked waits until the reader's connection is blocked in a command.
func waitBlocked(t *testing.T, c rueidis.Client, rd *testReader) {
	t.Helper()
	eventually(t, 10*time.Second, "the reader blocked in XREADGROUP", func() bool {
		id := rd.id.Load()
		if id == 0 {
			return false
		}
		m := redisDo(t, c, "CLIENT", "LIST", "ID", strconv.FormatInt(id, 10))
		s, _ := m.ToString()
		return strings.Contains(s, "flags=b") && strings.Contains(s, "cmd=xreadgroup")
	})
}

// Catches: unblock() that does not interrupt a blocked read (Shutdown, or
// a due retry, waits out the whole Block), a stop that does not unblock
// the read, and an unblocked read reported as an error (which would reset
// the connection and log a failure at every shutdown).
func TestStreamReaderUnblock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		interrupt func(rd *testReader)
	}{
		{"unblock", func(rd *testReader) { rd.unblock() }},
		{"stopping", func(rd *testReader) { close(rd.stopping) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := partsServer(t)
			makeGroup(t, c, "s", "g")
			rd := newTestReader(t, c, "s", "g", "me")
			res := rd.readAsync(10, 30*time.Second, nil)
			waitBlocked(t, c, rd)
			tc.interrupt(rd)
			select {
			case got := <-res:
				if got.err != nil || len(got.msgs) != 0 {
					t.Fatalf("unblocked read: %+v, want nothing and no error", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the blocked read (Block 30s) did not return after " + tc.name)
			}
			if rd.dc == nil {
				t.Fatal("an unblocked read reset the reader's connection")
			}
		})
	}
}

// resp is a RESP value to build rueidis.RedisMessage replies from, in the
// form rueidis' CacheMarshal writes (a 7-byte TTL, then per value a type
// byte, an 8-byte length and the payload).
type resp struct {
	typ   byte // '$' string, '*' array, '%' map, '_' null
	s     string
	elems []resp
}

func rStr(s string) resp   { return resp{typ: '$', s: s} }
func rArr(e ...resp) resp  { return resp{typ: '*', elems: e} }
func rMap(kv ...resp) resp { return resp{typ: '%', elems: kv} } // k, v, k, v...
func rNil() resp           { return resp{typ: '_'} }
func rEntry(id string, kv ...string) resp {
	fs := make([]resp, len(kv))
	for i, s := range kv {
		fs[i] = rStr(s)
	}
	return rArr(rStr(id), rArr(fs...))
}

func (r resp) append(b []byte) []byte {
	b = append(b, r.typ)
	switch r.typ {
	case '_':
		return binary.BigEndian.AppendUint64(b, 0)
	case '*', '%':
		b = binary.BigEndian.AppendUint64(b, uint64(len(r.elems)))
		for _, e := range r.elems {
			b = e.append(b)
		}
		return b
	}
	b = binary.BigEndian.AppendUint64(b, uint64(len(r.s)))
	return append(b, r.s...)
}

func (r resp) message(t *testing.T) *rueidis.RedisMessage {
	t.Helper()
	var m rueidis.RedisMessage
	if err := m.CacheUnmarshalView(r.append(make([]byte, 7))); err != nil {
		t.Fatalf("building a reply: %v", err)
	}
	return &m
}

// Catches: parseXRead that takes another stream's entries, loses or
// reorders entries, mixes up fields, chokes on a deleted entry (nil
// fields) or returns it, accepts malformed replies, or lets one message's
// Fields run into the next one's (an append by a handler would overwrite
// another entry's field).
func TestParseXReadShapes(t *testing.T) {
	entries := rArr(
		rEntry("1-0", "a", "1", "b", "2"),
		rArr(rStr("2-0"), rNil()), // deleted
		rEntry("3-0", "c", "3"),
	)
	other := rArr(rEntry("9-0", "x", "y"))
	// The stream asked for comes before and after another one.
	resp2 := rArr(rArr(rStr("before"), other), rArr(rStr("s"), entries), rArr(rStr("after"), other))
	resp3 := rMap(rStr("before"), other, rStr("s"), entries, rStr("after"), other)
	if !resp3.message(t).IsMap() || resp2.message(t).IsMap() {
		t.Fatal("the reply builder does not make the shapes it should")
	}
	for _, tc := range []struct {
		name  string
		reply resp
	}{{"RESP2", resp2}, {"RESP3", resp3}} {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := parseXRead(tc.reply.message(t), "s")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range msgs {
				if m.Stream != "s" || m.Deliveries != 1 {
					t.Fatalf("message %+v: want stream s and 1 delivery", m)
				}
				got = append(got, m.ID+":"+fieldsString(m.Fields))
			}
			if want := "[1-0:a=1 b=2 3-0:c=3]"; fmt.Sprint(got) != want {
				t.Fatalf("parsed %v, want %s", got, want)
			}
			msgs[0].Fields = append(msgs[0].Fields, Field{Name: "extra", Value: "!"})
			if f := msgs[1].Fields[0]; f.Name != "c" || f.Value != "3" {
				t.Fatalf("appending to one message's fields changed the next one's: %+v", f)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		for _, r := range []resp{rNil(), rMap(rStr("other"), other), rArr(rArr(rStr("other"), other))} {
			msgs, err := parseXRead(r.message(t), "s")
			if err != nil || len(msgs) != 0 {
				t.Fatalf("parseXRead of a reply without stream s = %s, %v; want nothing", describe(msgs), err)
			}
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for name, r := range map[string]resp{
			"pair of one":        rArr(rArr(rStr("s"))),
			"entry of three":     rArr(rArr(rStr("s"), rArr(rArr(rStr("1-0"), rArr(rStr("a"), rStr("1")), rStr("x"))))),
			"entry not an array": rMap(rStr("s"), rArr(rStr("1-0"))),
			"entries a string":   rMap(rStr("s"), rStr("x")),
			"reply a string":     rStr("x"),
		} {
			if msgs, err := parseXRead(r.message(t), "s"); err == nil {
				t.Errorf("%s: parsed %s without an error", name, describe(msgs))
			}
		}
	})
}

// Catches: a parser that fails on the server's own replies carrying
// deleted entries (XREADGROUP of the history after XDEL), in either
// protocol.
func TestParseXReadRealRepliesWithDeletedEntries(t *testing.T) {
	srv, c3 := partsServer(t)
	for _, tc := range []struct {
		name   string
		client rueidis.Client
	}{{"RESP3", c3}, {"RESP2", resp2Client(t, srv)}} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client
			stream := "s:" + tc.name
			makeGroup(t, c, stream, "g")
			ids := addEntries(t, c, stream, 3)
			readAs(t, c, stream, "g", "me", 3)
			redisDo(t, c, "XDEL", stream, ids[1])
			reply := redisDo(t, c, "XREADGROUP", "GROUP", "g", "me", "STREAMS", stream, "0")
			if reply.IsMap() != (tc.name == "RESP3") {
				t.Fatalf("%s reply IsMap = %v", tc.name, reply.IsMap())
			}
			msgs, err := parseXRead(&reply, stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) != 2 || msgs[0].ID != ids[0] || msgs[1].ID != ids[2] || fieldsString(msgs[1].Fields) != "i=2 k=v" {
				t.Fatalf("parsed %s, want %s and %s without the deleted one", describe(msgs), ids[0], ids[2])
			}
		})
	}
}
