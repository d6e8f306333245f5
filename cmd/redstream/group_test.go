package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// seedGroup makes stream st with n entries and group g, of which consumer
// alice has read (and holds pending) the first read entries.
func seedGroup(t *testing.T, c rueidis.Client, n, read int) {
	t.Helper()
	for i := range n {
		if err := do(t, c, "XADD", "st", "*", "n", strconv.Itoa(i+1)).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XGROUP", "CREATE", "st", "g", "0").Error(); err != nil {
		t.Fatal(err)
	}
	if read > 0 {
		if err := do(t, c, "XREADGROUP", "GROUP", "g", "alice", "COUNT", strconv.Itoa(read), "STREAMS", "st", ">").Error(); err != nil {
			t.Fatal(err)
		}
	}
}

// groups returns the names of stream's groups.
func groups(t *testing.T, c rueidis.Client, stream string) []string {
	t.Helper()
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 10*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range info.Groups {
		names = append(names, g.Name)
	}
	return names
}

func consumers(t *testing.T, c rueidis.Client, stream, group string) []string {
	t.Helper()
	info, err := redstream.NewInspector(c).Stream(ctxT(t, 10*time.Second), stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range info.Groups {
		if g.Name == group {
			for _, cs := range g.Consumers {
				names = append(names, cs.Name)
			}
		}
	}
	return names
}

func TestGroupCreate(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()

	r := cli(t, nil, "group", "create", "--redis", url, "--stream", "st", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("create on a missing stream: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream st does not exist", "--mkstream")

	r = cli(t, nil, "group", "create", "--redis", url, "--stream", "st", "--group", "g", "--mkstream", "--start", "0")
	if r.code != exitOK || r.stdout != "created group g on stream st at 0\n" {
		t.Fatalf("create --mkstream:\n%s", r)
	}
	if got := groups(t, c, "st"); len(got) != 1 || got[0] != "g" {
		t.Errorf("groups = %v, want [g]", got)
	}

	r = cli(t, nil, "group", "create", "--redis", url, "--stream", "st", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("create twice: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "group g already exists on stream st")

	if err := do(t, c, "SET", "str", "x").Error(); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "group", "create", "--redis", url, "--stream", "str", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("create on a string: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "key str is not a stream")
}

func TestGroupDelete(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	seedGroup(t, c, 5, 3)

	r := cli(t, nil, "group", "delete", "--redis", url, "--stream", "st", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("delete with pending entries: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "group g of stream st has 3 entries pending", "--force")
	if got := groups(t, c, "st"); len(got) != 1 {
		t.Fatalf("the refused delete removed the group: %v", got)
	}

	r = cli(t, nil, "group", "delete", "--redis", url, "--stream", "st", "--group", "nope")
	if r.code != exitFailure {
		t.Fatalf("delete a missing group: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream st has no consumer group nope")

	r = cli(t, nil, "group", "delete", "--redis", url, "--stream", "st", "--group", "g", "--force")
	if r.code != exitOK || r.stdout != "deleted group g of stream st with 3 entries pending\n" {
		t.Fatalf("delete --force:\n%s", r)
	}
	if got := groups(t, c, "st"); len(got) != 0 {
		t.Errorf("groups after delete --force: %v", got)
	}

	// A group with nothing pending goes without --force.
	if err := do(t, c, "XGROUP", "CREATE", "st", "idle", "$").Error(); err != nil {
		t.Fatal(err)
	}
	r = cli(t, nil, "group", "delete", "--redis", url, "--stream", "st", "--group", "idle")
	if r.code != exitOK || r.stdout != "deleted group idle of stream st\n" {
		t.Fatalf("delete a group with nothing pending:\n%s", r)
	}
}

func TestGroupDelConsumer(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	seedGroup(t, c, 5, 2)
	// bob joined and read nothing: nothing pending.
	if err := do(t, c, "XGROUP", "CREATECONSUMER", "st", "g", "bob").Error(); err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "group", "delconsumer", "--redis", url, "--stream", "st", "--group", "g", "--consumer", "alice")
	if r.code != exitFailure {
		t.Fatalf("delconsumer with pending entries: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "consumer alice still owns 2 entries pending in group g", "unclaimable", "--force")
	if got := consumers(t, c, "st", "g"); len(got) != 2 {
		t.Fatalf("the refused delconsumer removed a consumer: %v", got)
	}
	if p := pendingCount(t, c, "st", "g"); p != 2 {
		t.Errorf("pending %d after the refusal, want 2", p)
	}

	r = cli(t, nil, "group", "delconsumer", "--redis", url, "--stream", "st", "--group", "g", "--consumer", "bob")
	if r.code != exitOK || r.stdout != "deleted consumer bob from group g of stream st\n" {
		t.Fatalf("delconsumer bob:\n%s", r)
	}

	r = cli(t, nil, "group", "delconsumer", "--redis", url, "--stream", "st", "--group", "g", "--consumer", "carol")
	if r.code != exitFailure {
		t.Fatalf("delconsumer of a missing consumer: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "group g of stream st has no consumer carol")

	r = cli(t, nil, "group", "delconsumer", "--redis", url, "--stream", "st", "--group", "nope", "--consumer", "alice")
	if r.code != exitFailure {
		t.Fatalf("delconsumer in a missing group: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream st has no consumer group nope")

	r = cli(t, nil, "group", "delconsumer", "--redis", url, "--stream", "st", "--group", "g", "--consumer", "alice", "--force")
	if r.code != exitOK || !strings.Contains(r.stdout, "its 2 entries pending are dropped") {
		t.Fatalf("delconsumer --force:\n%s", r)
	}
	if got := consumers(t, c, "st", "g"); len(got) != 0 {
		t.Errorf("consumers after --force: %v", got)
	}
	if p := pendingCount(t, c, "st", "g"); p != 0 {
		t.Errorf("pending %d after --force, want 0", p)
	}
}

func TestGroupSetID(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	// Three entries an hour ago, two now.
	old := time.Now().Add(-time.Hour).UnixMilli()
	for i := range 3 {
		if err := do(t, c, "XADD", "st", strconv.FormatInt(old, 10)+"-"+strconv.Itoa(i+1), "n", "old").Error(); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := do(t, c, "XADD", "st", "*", "n", "new").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XGROUP", "CREATE", "st", "g", "$").Error(); err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--id", "0")
	if r.code != exitOK || !strings.Contains(r.stdout, "last delivered ID now -; lag 5, pending 0") {
		t.Fatalf("setid --id 0:\n%s", r)
	}
	r = cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--time", "30m")
	if r.code != exitOK || !strings.Contains(r.stdout, "lag 2,") {
		t.Fatalf("setid --time 30m (after the old entries, before the new):\n%s", r)
	}
	at := time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
	r = cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--time", at)
	if r.code != exitOK || !strings.Contains(r.stdout, "lag 5,") {
		t.Fatalf("setid --time %s:\n%s", at, r)
	}
	r = cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--id", "$")
	if r.code != exitOK || !strings.Contains(r.stdout, "lag 0,") {
		t.Fatalf("setid --id $:\n%s", r)
	}
	r = cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "nope", "--id", "0")
	if r.code != exitFailure {
		t.Fatalf("setid of a missing group: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream st has no consumer group nope")
	r = cli(t, nil, "group", "setid", "--redis", url, "--stream", "missing", "--group", "g", "--id", "0")
	if r.code != exitFailure {
		t.Fatalf("setid on a missing stream: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stream missing does not exist")
}

// TestGroupSetIDRefusesBeyondTheLastEntry: a position the stream has not
// reached would make the group skip every entry added until then while
// its lag shows 0; it is refused (exit 2, the group unmoved) unless --force.
func TestGroupSetIDRefusesBeyondTheLastEntry(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	seedGroup(t, c, 3, 0)
	es := entries(t, c, "st")
	last, err := redstream.ParseID(es[len(es)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	lastDelivered := func() string {
		t.Helper()
		g, err := findGroup(ctxT(t, 10*time.Second), c, "st", "g")
		if err != nil {
			t.Fatal(err)
		}
		return g.LastDeliveredID
	}
	before := lastDelivered()
	beyond := redstream.ID{Ms: last.Ms, Seq: last.Seq + 1}.String()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", beyond}, "--id " + beyond + " is beyond the last entry of stream st (" + last.String() + ")"},
		{[]string{"--id", "99999999999999"}, "is beyond the last entry"},
		{[]string{"--time", "2999-01-01T00:00:00Z"}, "--time 2999-01-01T00:00:00Z is in the future"},
	} {
		r := cli(t, nil, append([]string{"group", "setid", "--redis", url, "--stream", "st", "--group", "g"}, tc.args...)...)
		if r.code != exitUsage {
			t.Fatalf("setid %v: exit %d, want %d\n%s", tc.args, r.code, exitUsage, r)
		}
		wantOneErrorLine(t, r, tc.want, "lag shows 0", "--force")
		if got := lastDelivered(); got != before {
			t.Fatalf("setid %v moved the group to %s although refused", tc.args, got)
		}
	}
	// The last entry itself, and --force beyond it, are accepted.
	if r := cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--id", last.String()); r.code != exitOK {
		t.Fatalf("setid to the last entry:\n%s", r)
	}
	r := cli(t, nil, "group", "setid", "--redis", url, "--stream", "st", "--group", "g", "--id", beyond, "--force")
	if r.code != exitOK || lastDelivered() != beyond {
		t.Fatalf("setid --force beyond the last entry:\n%s", r)
	}
}

func TestGroupConsumersGolden(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	seedGroup(t, c, 6, 4)
	if err := do(t, c, "XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "st", ">").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "group", "consumers", "--redis", srv.URL(), "--stream", "st", "--group", "g")
	if r.code != exitOK {
		t.Fatalf("group consumers:\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^alice +4 +\S+ +\S+$`).MatchString(r.stdout) {
		t.Errorf("no row for alice with 4 pending:\n%s", r)
	}
	golden(t, "group-consumers", r.stdout)
}

func TestParseInstant(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1h", now.Add(-time.Hour), true},
		{"90s", now.Add(-90 * time.Second), true},
		{"2d", now.Add(-48 * time.Hour), true},
		{"2024-04-30T00:00:00Z", time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC), true},
		{"yesterday", time.Time{}, false},
		{"-1h", time.Time{}, false},
		{"1.5d", time.Time{}, false},
		{"d", time.Time{}, false},
		{"106751d", now.Add(-106751 * 24 * time.Hour), true},
		{"106752d", time.Time{}, false}, // beyond a time.Duration: not wrapped around
		{"99999999999d", time.Time{}, false},
	} {
		got, err := parseInstant(tc.in, now)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("parseInstant(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
