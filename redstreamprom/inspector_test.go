package redstreamprom_test

import (
	"errors"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamprom"
	"github.com/redstream-go/redstream/redstreamtest"
)

// addEntries appends n entries to stream in one pipeline and returns
// their IDs.
func addEntries(t *testing.T, c rueidis.Client, stream string, n int) []string {
	t.Helper()
	cmds := make(rueidis.Commands, n)
	for i := range cmds {
		cmds[i] = c.B().Xadd().Key(stream).Id("*").FieldValue().FieldValue("i", fmt.Sprint(i)).Build()
	}
	ids := make([]string, n)
	for i, r := range c.DoMulti(ctxT(t, 30*time.Second), cmds...) {
		id, err := r.ToString()
		if err != nil {
			t.Fatalf("xadd %s: %v", stream, err)
		}
		ids[i] = id
	}
	return ids
}

func ok(t *testing.T, r rueidis.RedisResult) {
	t.Helper()
	if err := r.Error(); err != nil {
		t.Fatal(err)
	}
}

// inspectState builds streams whose numbers are known:
//
//   - small: 10 entries, 2 dead letters; group "readers" read 4 and acked 1
//     (3 pending with consumer "c1", lag 5: entries 5, 6, 7, 9, 10); group
//     "counted" created at entry 5 with entry 8 deleted, so Redis does not
//     know its lag but the Inspector counts it: 4 (entries 6, 7, 9, 10).
//   - big: more entries than the Inspector counts itself, group "lost"
//     created at entry 100 with entry 200 deleted: its lag is unknown.
func inspectState(t *testing.T, srv *redstreamtest.Server) (small, big string) {
	t.Helper()
	c := srv.Client(t)
	small, big = t.Name()+":small", t.Name()+":big"

	ids := addEntries(t, c, small, 10)
	addEntries(t, c, redstream.DeadLetterKey(small), 2)
	ok(t, srv.Do(t, "XGROUP", "CREATE", small, "readers", "0"))
	ok(t, srv.Do(t, "XREADGROUP", "GROUP", "readers", "c1", "COUNT", "4", "STREAMS", small, ">"))
	ok(t, srv.Do(t, "XACK", small, "readers", ids[0]))
	ok(t, srv.Do(t, "XGROUP", "CREATE", small, "counted", ids[4]))
	ok(t, srv.Do(t, "XDEL", small, ids[7]))

	bigIDs := addEntries(t, c, big, 10050)
	ok(t, srv.Do(t, "XGROUP", "CREATE", big, "lost", bigIDs[99]))
	ok(t, srv.Do(t, "XDEL", big, bigIDs[199]))
	return small, big
}

func TestInspectorCollector(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	small, big := inspectState(t, srv)
	missing := t.Name() + ":missing"
	wrongType := t.Name() + ":string"
	ok(t, srv.Do(t, "SET", wrongType, "x"))

	// Redis itself does not know the lag of "counted" or "lost".
	for _, sg := range [][2]string{{small, "counted"}, {big, "lost"}} {
		groups, err := srv.Do(t, "XINFO", "GROUPS", sg[0]).ToArray()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			m, _ := g.AsMap()
			name, lag := m["name"], m["lag"]
			if n, _ := name.ToString(); n == sg[1] && !lag.IsNil() {
				t.Fatalf("setup: Redis reports a lag for %s/%s; the test needs it unknown", sg[0], sg[1])
			}
		}
	}

	col := mustCollector(t, redstream.NewInspector(srv.Client(t)),
		redstreamprom.Streams(small, big, missing, wrongType, small))
	e := scrape(t, serve(t, col))

	s := []string{"stream", small}
	e.want(t, 1, "redstream_inspect_up", s...)
	e.want(t, 9, "redstream_stream_length", s...) // 10 minus the deleted one
	e.want(t, 2, "redstream_dead_letters", s...)
	if v, ok := e.value("redstream_stream_memory_bytes", s...); !ok || v <= 0 {
		t.Errorf("memory bytes = %v (present %v), want > 0", v, ok)
	}

	readers := []string{"stream", small, "group", "readers"}
	e.want(t, 5, "redstream_group_lag", readers...)
	e.want(t, 1, "redstream_group_lag_known", readers...)
	e.want(t, 3, "redstream_group_pending", readers...)
	e.want(t, 1, "redstream_group_consumers", readers...)
	if v, ok := e.value("redstream_group_oldest_pending_age_seconds", readers...); !ok || v < 0 || v > 60 {
		t.Errorf("oldest pending age = %v (present %v), want between 0 and 60s", v, ok)
	}
	c1 := append(slices.Clone(readers), "consumer", "c1")
	e.want(t, 3, "redstream_consumer_pending", c1...)
	if v, ok := e.value("redstream_consumer_idle_seconds", c1...); !ok || v < 0 || v > 60 {
		t.Errorf("consumer idle = %v (present %v), want between 0 and 60s", v, ok)
	}

	counted := []string{"stream", small, "group", "counted"}
	e.want(t, 4, "redstream_group_lag", counted...)
	e.want(t, 1, "redstream_group_lag_known", counted...)
	e.want(t, 0, "redstream_group_pending", counted...)
	e.want(t, 0, "redstream_group_oldest_pending_age_seconds", counted...)
	e.want(t, 0, "redstream_group_consumers", counted...)

	lost := []string{"stream", big, "group", "lost"}
	e.want(t, 1, "redstream_inspect_up", "stream", big)
	e.want(t, 10049, "redstream_stream_length", "stream", big)
	e.want(t, 0, "redstream_dead_letters", "stream", big)
	e.absent(t, "redstream_group_lag", lost...)
	e.want(t, 0, "redstream_group_lag_known", lost...)
	e.want(t, 0, "redstream_group_pending", lost...)

	// Unreadable streams: up 0, nothing else, and the scrape succeeded.
	for _, k := range []string{missing, wrongType} {
		e.want(t, 0, "redstream_inspect_up", "stream", k)
		e.absent(t, "redstream_stream_length", "stream", k)
		e.absent(t, "redstream_dead_letters", "stream", k)
	}
	e.want(t, 2, "redstream_inspect_errors_total")
	if n := len(e["redstream_inspect_up"].GetMetric()); n != 4 {
		t.Errorf("%d inspect_up series, want 4 (the duplicate stream read once)", n)
	}

	if problems, err := testutil.CollectAndLint(col); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

func TestInspectorCollectorPattern(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	prefix := t.Name() + ":"
	addEntries(t, c, prefix+"a", 3)
	addEntries(t, c, prefix+"b", 1)
	addEntries(t, c, redstream.DeadLetterKey(prefix+"a"), 1) // reported as a's dead letters
	addEntries(t, c, "other", 1)
	ok(t, srv.Do(t, "SET", prefix+"string", "not a stream"))

	col := mustCollector(t, redstream.NewInspector(c), redstreamprom.StreamPattern(prefix+"*"))
	url := serve(t, col)
	e := scrape(t, url)
	var up []string
	for _, m := range e["redstream_inspect_up"].GetMetric() {
		up = append(up, m.GetLabel()[0].GetValue())
	}
	if want := []string{prefix + "a", prefix + "b"}; !slices.Equal(up, want) {
		t.Fatalf("streams scraped %q, want %q", up, want)
	}
	e.want(t, 3, "redstream_stream_length", "stream", prefix+"a")
	e.want(t, 1, "redstream_dead_letters", "stream", prefix+"a")
	e.want(t, 0, "redstream_inspect_errors_total")

	// A stream created later is found at the next scrape.
	addEntries(t, c, prefix+"c", 2)
	scrape(t, url).want(t, 2, "redstream_stream_length", "stream", prefix+"c")
}

// TestInspectorCollectorPatternFollowsTheDeadLetterSuffix matches streams
// by pattern with an Inspector told a dead-letter suffix: the dead-letter
// stream under that suffix is counted as its stream's dead letters, not
// reported itself, and a key with another suffix is just a stream.
func TestInspectorCollectorPatternFollowsTheDeadLetterSuffix(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	prefix := t.Name() + ":"
	a := prefix + "a"
	addEntries(t, c, a, 3)
	addEntries(t, c, prefix+"b", 1)
	addEntries(t, c, a+":poison", 2)
	addEntries(t, c, a+":dead", 1)

	for _, tc := range []struct {
		name    string
		opts    []redstream.InspectorOption
		streams []string // reported, sorted
		dead    float64  // a's dead letters
	}{
		{"suffix :poison", []redstream.InspectorOption{redstream.InspectDeadLetterSuffix(":poison")}, []string{a, a + ":dead", prefix + "b"}, 2},
		{"default suffix", nil, []string{a, a + ":poison", prefix + "b"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := mustCollector(t, redstream.NewInspector(c, tc.opts...), redstreamprom.StreamPattern(prefix+"*"))
			e := scrape(t, serve(t, col))
			var up []string
			for _, m := range e["redstream_inspect_up"].GetMetric() {
				up = append(up, m.GetLabel()[0].GetValue())
			}
			slices.Sort(up)
			if !slices.Equal(up, tc.streams) {
				t.Fatalf("streams scraped %q, want %q", up, tc.streams)
			}
			e.want(t, tc.dead, "redstream_dead_letters", "stream", a)
			e.want(t, 3, "redstream_stream_length", "stream", a)
			e.want(t, 0, "redstream_inspect_errors_total")

			// Listed by name, the stream's dead letters follow the suffix too.
			fixed := mustCollector(t, redstream.NewInspector(c, tc.opts...), redstreamprom.Streams(a))
			scrape(t, serve(t, fixed)).want(t, tc.dead, "redstream_dead_letters", "stream", a)
		})
	}
}

// TestInspectorCollectorTimeout stops redis-server: the scrape still
// answers within the timeout, with every stream down.
func TestInspectorCollectorTimeout(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	stream := t.Name()
	addEntries(t, c, stream, 1)
	col := mustCollector(t, redstream.NewInspector(c),
		redstreamprom.Streams(stream), redstreamprom.ScrapeTimeout(200*time.Millisecond))
	url := serve(t, col)
	scrape(t, url).want(t, 1, "redstream_inspect_up", "stream", stream)

	if err := srv.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Signal(syscall.SIGCONT) })
	start := time.Now()
	e := scrape(t, url)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("scrape took %v with a 200ms ScrapeTimeout", took)
	}
	e.want(t, 0, "redstream_inspect_up", "stream", stream)
	e.want(t, 1, "redstream_inspect_errors_total")

	if err := srv.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the stream back up", func() bool {
		v, _ := scrape(t, url).value("redstream_inspect_up", "stream", stream)
		return v == 1
	})
}

func TestNewInspectorCollectorInvalid(t *testing.T) {
	in := redstream.NewInspector(nil)
	for _, tc := range []struct {
		name string
		in   *redstream.Inspector
		opts []redstreamprom.CollectorOption
	}{
		{"no inspector", nil, []redstreamprom.CollectorOption{redstreamprom.Streams("s")}},
		{"no streams", in, nil},
		{"empty stream", in, []redstreamprom.CollectorOption{redstreamprom.Streams("")}},
		{"empty pattern", in, []redstreamprom.CollectorOption{redstreamprom.StreamPattern("")}},
		{"zero timeout", in, []redstreamprom.CollectorOption{redstreamprom.Streams("s"), redstreamprom.ScrapeTimeout(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := redstreamprom.NewInspectorCollector(tc.in, tc.opts...); !errors.Is(err, redstream.ErrInvalidOption) {
				t.Fatalf("NewInspectorCollector = %v, want ErrInvalidOption", err)
			}
		})
	}
}

func mustCollector(t testing.TB, in *redstream.Inspector, opts ...redstreamprom.CollectorOption) *redstreamprom.InspectorCollector {
	t.Helper()
	c, err := redstreamprom.NewInspectorCollector(in, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
