package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestInfoShowsGroups(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	for range 10 {
		if err := do(t, c, "XADD", "st", "*", "k", "v").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(t, c, "XGROUP", "CREATE", "st", "readers", "0").Error(); err != nil {
		t.Fatal(err)
	}
	if err := do(t, c, "XREADGROUP", "GROUP", "readers", "alice", "COUNT", "4", "STREAMS", "st", ">").Error(); err != nil {
		t.Fatal(err)
	}

	r := cli(t, nil, "info", "--redis", srv.URL(), "--stream", "st")
	if r.code != exitOK {
		t.Fatalf("info:\n%s", r)
	}
	for _, want := range []string{
		`(?m)^length +10$`,
		`(?m)^groups +1$`,
		`(?m)^group readers$`,
		`(?m)^  consumers +1$`,
		`(?m)^  pending +4$`,
		`(?m)^  lag +6$`,
		`(?m)^  last delivered ID +[0-9]+-[0-9]+$`,
		`(?m)^  alice +4 +`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("info output does not match %s:\n%s", want, r)
		}
	}

	r = cli(t, nil, "info", "--redis", srv.URL(), "--stream", "st", "--json")
	if r.code != exitOK {
		t.Fatalf("info --json:\n%s", r)
	}
	var info redstream.StreamInfo
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("info --json is not a StreamInfo: %v\n%s", err, r)
	}
	if info.Length != 10 || len(info.Groups) != 1 || info.Groups[0].Lag == nil || *info.Groups[0].Lag != 6 ||
		info.Groups[0].Pending != 4 || len(info.Groups[0].Consumers) != 1 || info.Groups[0].Consumers[0].Name != "alice" {
		t.Errorf("info --json = %+v", info)
	}
}

func TestInfoEmptyStreamJSON(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "XGROUP", "CREATE", "empty", "g", "$", "MKSTREAM").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "info", "--redis", srv.URL(), "--stream", "empty", "--json")
	if r.code != exitOK || !strings.Contains(r.stdout, `"consumers": []`) || !strings.Contains(r.stdout, `"length": 0`) {
		t.Fatalf("info --json on an empty stream:\n%s", r)
	}
	r = cli(t, nil, "info", "--redis", srv.URL(), "--stream", "empty")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^first ID +-$`).MatchString(r.stdout) {
		t.Fatalf("info on an empty stream:\n%s", r)
	}
}

func TestInfoMissingStream(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	r := cli(t, nil, "info", "--redis", srv.URL(), "--stream", "nope")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "stream nope does not exist")
}

func TestInfoKeyOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "SET", "str", "x").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "info", "--redis", srv.URL(), "--stream", "str")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "key str is not a stream", "string")
}

func TestLagText(t *testing.T) {
	n := int64(0)
	if got := lagText(nil); got != "unknown" {
		t.Errorf("lagText(nil) = %q, want unknown", got)
	}
	if got := lagText(&n); got != "0" {
		t.Errorf("lagText(0) = %q, want 0", got)
	}
	if got := idleText(-time.Millisecond); got != "unknown" {
		t.Errorf("idleText(-1ms) = %q, want unknown", got)
	}
}

func TestInfoGolden(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	seedGroup(t, c, 10, 4)
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "st", "empty", "$"},
		{"XADD", "st:dead", "*", "k", "v"},
		{"XADD", "st:dead", "*", "k", "w"},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatal(err)
		}
	}
	r := cli(t, nil, "info", "--redis", srv.URL(), "--stream", "st")
	if r.code != exitOK {
		t.Fatalf("info:\n%s", r)
	}
	for _, want := range []string{
		`(?m)^memory +[0-9.]+ (B|KiB|MiB)$`,
		`(?m)^dead letters +2 in st:dead$`,
		`(?m)^  oldest pending ID +[0-9]+-0$`,
		`(?m)^  oldest pending age +\S+$`,
		`(?m)^  oldest pending ID +-$`, // group empty
		`(?m)^  CONSUMER +PENDING +IDLE +INACTIVE$`,
		`(?m)^  alice +4 +\S+ +\S+$`,
	} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("info output does not match %s:\n%s", want, r)
		}
	}
	golden(t, "info", r.stdout)
}

func TestBytesText(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}} {
		if got := bytesText(&tc.n); got != tc.want {
			t.Errorf("bytesText(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	if got := bytesText(nil); got != "unknown" {
		t.Errorf("bytesText(nil) = %q", got)
	}
	d := 1500 * time.Millisecond
	if got := durText(&d, "-"); got != "1.5s" {
		t.Errorf("durText(1.5s) = %q", got)
	}
	if got := durText(nil, "unknown"); got != "unknown" {
		t.Errorf("durText(nil) = %q", got)
	}
}
