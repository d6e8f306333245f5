package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNewCommandsUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad --log-level", []string{"--log-level", "loud", "info", "--stream", "s"}, `--log-level must be debug, info, warn or error, got "loud"`},
		{"bad --log-format", []string{"info", "--stream", "s", "--log-format", "xml"}, `--log-format must be text or json, got "xml"`},
		{"trim without a strategy", []string{"trim", "--stream", "s"}, "exactly one of --maxlen, --minid, --older-than or --acked"},
		{"trim with two strategies", []string{"trim", "--stream", "s", "--maxlen", "5", "--acked"}, "exactly one of"},
		{"trim --maxlen 0", []string{"trim", "--stream", "s", "--maxlen", "0"}, "--maxlen must be at least 1"},
		{"trim bad --minid", []string{"trim", "--stream", "s", "--minid", "x"}, "--minid must be an entry ID"},
		{"trim bad --older-than", []string{"trim", "--stream", "s", "--older-than", "soon"}, "--older-than must be a positive duration"},
		{"group without subcommand flags", []string{"group", "create", "--stream", "s"}, `"group" not set`},
		{"group create bad --start", []string{"group", "create", "--stream", "s", "--group", "g", "--start", "x"}, "--start must be"},
		{"group setid without target", []string{"group", "setid", "--stream", "s", "--group", "g"}, "--id ID or --time TIME"},
		{"group setid both", []string{"group", "setid", "--stream", "s", "--group", "g", "--id", "0", "--time", "1h"}, "--id ID or --time TIME"},
		{"group setid bad --time", []string{"group", "setid", "--stream", "s", "--group", "g", "--time", "noon"}, "nor a duration ago"},
		{"group setid bad --id", []string{"group", "setid", "--stream", "s", "--group", "g", "--id", "x"}, "--id must be"},
		{"delconsumer without --consumer", []string{"group", "delconsumer", "--stream", "s", "--group", "g"}, `"consumer" not set`},
		{"pending --count 0", []string{"pending", "--stream", "s", "--group", "g", "--count", "0"}, "--count must be between 1 and 100000, got 0"},
		{"tail bad --from", []string{"tail", "--stream", "s", "--from", "now"}, "--from must be"},
		{"top --interval 0", []string{"top", "--interval", "0s"}, "--interval must be between 100ms and 24h, got 0s"},
		{"top --stream and --match", []string{"top", "--stream", "a", "--match", "b*"}, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := cli(t, strings.NewReader(""), tc.args...)
			if r.code != exitUsage {
				t.Fatalf("exit code %d, want %d\n%s", r.code, exitUsage, r)
			}
			wantOneErrorLine(t, r, tc.want, "--help")
			if r.stdout != "" {
				t.Errorf("stdout not empty on a usage error:\n%s", r)
			}
		})
	}
}

// TestLogFlags: --log-format json --log-level info makes the library's
// and the CLI's logs JSON lines on stderr; the default shows no info.
func TestLogFlags(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	publishN(t, c, srv.URL(), "st", 1)

	bg := startCLI(t, nil, "--log-format", "json", "--log-level", "debug", "tail", "--redis", srv.URL(), "--stream", "not-yet")
	waitFor(t, 10*time.Second, "a log line", func() bool { return strings.Contains(bg.stderr.String(), "\n") })
	res := bg.stop(t)
	line, _, _ := strings.Cut(res.stderr, "\n")
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["level"] != "INFO" || rec["stream"] != "not-yet" {
		t.Errorf("first stderr line is not a JSON info record about stream not-yet: %q (%v)", line, err)
	}

	// Once tail waits in XREAD it has logged, at info, that the stream
	// does not exist yet: the default level (warn) shows none of it.
	waitFor(t, 10*time.Second, "the first tail's connection to close", func() bool { return xreadClients(t, c) == 0 })
	bg = startCLI(t, nil, "tail", "--redis", srv.URL(), "--stream", "not-yet")
	waitForXread(t, c)
	if res := bg.stop(t); res.stderr != "" {
		t.Errorf("the default level (warn) logged info:\n%s", res)
	}

	// consume passes the logger on: a json, debug run still works.
	r := cli(t, nil, "consume", "--redis", srv.URL(), "--stream", "st", "--group", "g", "--from", "0", "--max", "1", "--log-format", "json", "--log-level", "debug")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("consume with log flags:\n%s", r)
	}
}
