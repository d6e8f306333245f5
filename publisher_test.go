package redstream_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

func TestPublishStoresFieldsInOrder(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	p, err := redstream.NewPublisher(c)
	if err != nil {
		t.Fatal(err)
	}
	stream := key(t, "s")
	fields := redstream.Fields("whatHappened", "ticket received", "ticketID", "42", "ticketData", "some ticket data")
	id, err := p.Publish(ctxT(t, 5*time.Second), stream, fields)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := redstream.ParseID(id); err != nil {
		t.Fatalf("Publish returned %q, not an entry ID", id)
	}
	got, err := c.Do(ctxT(t, 5*time.Second), c.B().Xrange().Key(stream).Start("-").End("+").Build()).AsXRangeSlices()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != id {
		t.Fatalf("XRANGE = %v, want one entry %s", got, id)
	}
	var names []string
	for _, fv := range got[0].FieldValues {
		names = append(names, fv.Field+"="+fv.Value)
	}
	if want := []string{"whatHappened=ticket received", "ticketID=42", "ticketData=some ticket data"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("stored fields %v, want %v", names, want)
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	p, _ := redstream.NewPublisher(c)
	ctx := ctxT(t, 5*time.Second)
	if _, err := p.Publish(ctx, key(t, "s"), nil); !errors.Is(err, redstream.ErrNoFields) {
		t.Errorf("no fields: error = %v, want ErrNoFields", err)
	}
	if _, err := p.Publish(ctx, "", redstream.Fields("a", "b")); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("empty stream: error = %v, want ErrInvalidOption", err)
	}
	str := key(t, "string")
	srv.Do(t, "SET", str, "not a stream")
	_, err := p.Publish(ctx, str, redstream.Fields("a", "b"))
	if !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("WRONGTYPE key: error = %v, want ErrNotStream", err)
	}
	if v, _ := srv.Do(t, "GET", str).ToString(); v != "not a stream" {
		t.Fatalf("the other key was changed to %q", v)
	}
	if _, err := redstream.NewPublisher(c, redstream.MaxLen(0)); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("MaxLen(0): error = %v, want ErrInvalidOption", err)
	}
	if _, err := redstream.NewPublisher(c, redstream.MaxLen(10), redstream.MaxAge(time.Hour)); !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("MaxLen with MaxAge: error = %v, want ErrInvalidOption", err)
	}
}

func TestPublishBatchKeepsOrderAndReportsPartialFailure(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	p, _ := redstream.NewPublisher(c)
	good, bad := key(t, "good"), key(t, "bad")
	srv.Do(t, "SET", bad, "x")
	var entries []redstream.Entry
	for i := range 3000 { // more than one pipeline chunk
		s := good
		if i == 1500 {
			s = bad
		}
		entries = append(entries, redstream.Entry{Stream: s, Fields: redstream.Fields("i", fmt.Sprint(i))})
	}
	ids, err := p.PublishBatch(ctxT(t, 30*time.Second), entries)
	var be *redstream.BatchError
	if !errors.As(err, &be) || !errors.Is(err, redstream.ErrNotStream) {
		t.Fatalf("error = %v, want a *BatchError matching ErrNotStream", err)
	}
	for i, id := range ids {
		if (id == "") != (i == 1500) || (be.Errs[i] != nil) != (i == 1500) {
			t.Fatalf("entry %d: id %q err %v", i, id, be.Errs[i])
		}
	}
	got, err := c.Do(ctxT(t, 5*time.Second), c.B().Xrange().Key(good).Start("-").End("+").Build()).AsXRangeSlices()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2999 {
		t.Fatalf("stream holds %d entries, want 2999", len(got))
	}
	prev := -1
	for _, e := range got {
		var i int
		fmt.Sscan(e.FieldValues[0].Value, &i)
		if i <= prev {
			t.Fatalf("entry %d stored after %d: order broken", i, prev)
		}
		prev = i
	}
}

func TestPublishNeverTrimsByDefault(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	publishN(t, c, stream, 5000)
	if n, _ := srv.Do(t, "XLEN", stream).AsInt64(); n != 5000 {
		t.Fatalf("XLEN = %d, want 5000", n)
	}
}

func TestPublishMaxLenTrimsApproximately(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	p, err := redstream.NewPublisher(c, redstream.MaxLen(1000))
	if err != nil {
		t.Fatal(err)
	}
	stream := key(t, "s")
	for i := range 5000 {
		if _, err := p.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("i", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := srv.Do(t, "XLEN", stream).AsInt64()
	if n < 1000 || n > 1200 { // ~ trims whole nodes of 100 entries
		t.Fatalf("XLEN = %d, want about 1000", n)
	}
}

func TestPublishMaxAgeTrimsOldEntries(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	stream := key(t, "s")
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 300 { // old entries, written with explicit IDs an hour ago
		srv.Do(t, "XADD", stream, fmt.Sprintf("%d-%d", old, i+1), "old", "yes")
	}
	p, err := redstream.NewPublisher(c, redstream.MaxAge(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctxT(t, 5*time.Second), stream, redstream.Fields("new", "yes")); err != nil {
		t.Fatal(err)
	}
	// MINID ~ removes whole nodes (100 entries each) older than a minute.
	n, _ := srv.Do(t, "XLEN", stream).AsInt64()
	if n > 101 {
		t.Fatalf("XLEN = %d after MaxAge trimming, want the old nodes gone", n)
	}
}

// countingConn counts write calls, i.e. how many times the client sent
// something to Redis.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

func TestConcurrentPublishersShareRoundTrips(t *testing.T) {
	srv := sharedRedis(t)
	var writes atomic.Int64
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{srv.Addr()},
		DisableCache: true,
		DialCtxFn: func(ctx context.Context, addr string, d *net.Dialer, _ *tls.Config) (net.Conn, error) {
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return countingConn{conn, &writes}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, _ := redstream.NewPublisher(c)
	stream := key(t, "s")
	const goroutines, each = 64, 50
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := range each {
				if _, err := p.Publish(context.Background(), stream, redstream.Fields("g", fmt.Sprint(g), "i", fmt.Sprint(i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	before := writes.Load()
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sent := writes.Load() - before
	if n, _ := srv.Do(t, "XLEN", stream).AsInt64(); n != goroutines*each {
		t.Fatalf("XLEN = %d, want %d", n, goroutines*each)
	}
	if sent > goroutines*each/2 {
		t.Fatalf("%d publishes took %d writes: concurrent callers are not pipelined together", goroutines*each, sent)
	}
	t.Logf("%d concurrent publishes in %d writes", goroutines*each, sent)
}

func TestPublishBatchWithAnInvalidEntrySendsNothing(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	p, _ := redstream.NewPublisher(c)
	stream := key(t, "s")
	entries := make([]redstream.Entry, 1500)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: stream, Fields: redstream.Fields("i", fmt.Sprint(i))}
	}
	entries[1400].Fields = nil // in the second pipeline chunk
	ids, err := p.PublishBatch(ctxT(t, 10*time.Second), entries)
	if !errors.Is(err, redstream.ErrNoFields) || ids != nil {
		t.Fatalf("PublishBatch = %d ids, %v; want none and ErrNoFields", len(ids), err)
	}
	if n, _ := srv.Do(t, "XLEN", stream).AsInt64(); n != 0 {
		t.Fatalf("XLEN = %d: part of an invalid batch was written", n)
	}
}
