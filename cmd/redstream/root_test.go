package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestUsageErrorsExit2(t *testing.T) {
	t.Parallel()
	closed := closedPort(t)
	for _, tc := range []struct {
		name string
		args []string
		want string // in the one stderr line
	}{
		{"unknown command", []string{"bogus"}, `unknown command "bogus"`},
		{"misspelt command", []string{"demmo"}, "did you mean demo?"},
		{"unknown flag", []string{"info", "--stream", "s", "--bogus"}, "unknown flag: --bogus"},
		{"unknown global flag", []string{"--bogus", "info"}, "unknown flag: --bogus"},
		{"info without --stream", []string{"info"}, `"stream" not set`},
		{"publish without --stream", []string{"publish", "a=1"}, `"stream" not set`},
		{"consume without --group", []string{"consume", "--stream", "s"}, `"group" not set`},
		{"empty --stream", []string{"info", "--stream", ""}, "--stream must not be empty"},
		{"field without =", []string{"publish", "--stream", "s", "a=1", "oops"}, `"oops" is not field=value`},
		{"field without name", []string{"publish", "--stream", "s", "=1"}, `"=1" is not field=value`},
		{"bad --count value", []string{"publish", "--stream", "s", "--count", "many", "a=1"}, `invalid argument "many"`},
		{"--count 0", []string{"publish", "--stream", "s", "--count", "0", "a=1"}, "--count must be between 1 and 100000000, got 0"},
		{"bad --work value", []string{"demo", "--work", "fast"}, `invalid argument "fast"`},
		{"--consumers 0", []string{"demo", "--consumers", "0"}, "--consumers must be between 1 and 1000, got 0"},
		{"--concurrency 0", []string{"consume", "--stream", "s", "--group", "g", "--concurrency", "0"}, "--concurrency must be between 1 and 10000, got 0"},
		{"bad --from", []string{"consume", "--stream", "s", "--group", "g", "--from", "yesterday"}, "--from must be"},
		{"extra argument", []string{"info", "--stream", "s", "extra"}, "unknown command"},
		{"malformed --redis URL", []string{"info", "--redis", "localhost:6379", "--stream", "s"}, "invalid redis URL"},
		{"unsupported --redis scheme", []string{"publish", "--redis", "http://127.0.0.1:1", "--stream", "s", "a=1"}, "unsupported scheme"},
		{"malformed --redis URL for demo", []string{"demo", "--redis", "redis://host:notaport"}, "invalid redis URL"},
		{"empty --redis", []string{"info", "--redis", "", "--stream", "s"}, "--redis needs a URL"},
		{"empty --dead-suffix", []string{"--dead-suffix", "", "info", "--stream", "s"}, "--dead-suffix must not be empty"},
		{"empty --dead-suffix for dlq", []string{"dlq", "list", "--stream", "s", "--dead-suffix="}, "--dead-suffix must not be empty"},
		{"bad dev-server --addr", []string{"dev-server", "--addr", "6379"}, `--addr "6379" is not host:port`},
		{"dev-server port out of range", []string{"dev-server", "--addr", "127.0.0.1:65536"}, "port between 0 and 65535"},

		// Every size-like flag is bounded, and says its range.
		{"huge consume --concurrency", []string{"consume", "--stream", "s", "--group", "g", "--concurrency", "99999999999"}, "--concurrency must be between 1 and 10000, got 99999999999"},
		{"publish --msg-id with --in", []string{"publish", "--stream", "s", "--msg-id", "m", "--in", "1m", "a=b"}, "--msg-id cannot be combined with --in or --at"},
		{"consume --concurrency over the bound", []string{"consume", "--stream", "s", "--group", "g", "--concurrency", "10001"}, "--concurrency must be between 1 and 10000"},
		{"huge demo --concurrency", []string{"demo", "--concurrency", "99999999999"}, "--concurrency must be between 1 and 10000"},
		{"huge demo --consumers", []string{"demo", "--consumers", "1000000"}, "--consumers must be between 1 and 1000"},
		{"huge demo --tickets", []string{"demo", "--tickets", "99999999999"}, "--tickets must be between 1 and 10000000"},
		{"huge demo --keys", []string{"demo", "--keys", "99999999999"}, "--keys must be between 1 and 1000000"},
		{"demo --partitions 0", []string{"demo", "--partitions", "0"}, "--partitions must be between 1 and 1024"},
		{"long demo --work", []string{"demo", "--work", "2h"}, "--work must be between 0s and 1h, got 2h"},
		{"huge publish --count", []string{"publish", "--stream", "s", "--count", "99999999999", "a=1"}, "--count must be between 1 and 100000000"},
		{"huge pending --count", []string{"pending", "--stream", "s", "--group", "g", "--count", "99999999999"}, "--count must be between 1 and 100000"},
		{"huge dlq list --count", []string{"dlq", "list", "--stream", "s", "--count", "99999999999"}, "--count must be between 1 and 100000"},
		{"top --interval 1ns", []string{"top", "--interval", "1ns"}, "--interval must be between 100ms and 24h, got 1ns"},
		{"top --interval 99ms", []string{"top", "--interval", "99ms"}, "--interval must be between 100ms and 24h"},
		{"top --interval 48h", []string{"top", "--interval", "48h"}, "--interval must be between 100ms and 24h, got 48h"},

		// A command group given no subcommand it has is bad usage.
		{"group bogus", []string{"group", "bogus"}, `unknown command "bogus" for "redstream group"`},
		{"dlq bogus", []string{"dlq", "bogus"}, `unknown command "bogus" for "redstream dlq"`},
		{"topic bogus", []string{"topic", "bogus"}, `unknown command "bogus" for "redstream topic"`},
		{"dlq misspelt", []string{"dlq", "lst", "--stream", "s"}, "did you mean list?"},
		{"help of an unknown command", []string{"help", "bogus"}, `unknown help topic "bogus"`},
		{"help of an unknown subcommand", []string{"help", "group", "bogus"}, `unknown help topic "group bogus"`},

		// IDs and addresses are checked before anything is sent.
		{"dlq list bad --from", []string{"dlq", "list", "--stream", "s", "--from", "bogus"}, `--from must be -, + or an entry ID such as 1700000000000-0, got "bogus"`},
		{"dlq list bad --to", []string{"dlq", "list", "--stream", "s", "--to", "1-x"}, "--to must be"},
		{"dlq replay bad --from", []string{"dlq", "replay", "--stream", "s", "--from", "bogus", "--to", "+"}, "--from must be"},
		{"dlq replay bad --id", []string{"dlq", "replay", "--stream", "s", "--id", "bogus"}, "--id must be an entry ID"},
		{"dlq purge bad --id", []string{"dlq", "purge", "--stream", "s", "--id", "bogus"}, "--id must be an entry ID"},
		{"metrics port out of range", []string{"consume", "--stream", "s", "--group", "g", "--metrics-addr", "127.0.0.1:99999"}, `--metrics-addr "127.0.0.1:99999" is not host:port with a port between 0 and 65535`},
		{"metrics port not a number", []string{"demo", "--metrics-addr", "127.0.0.1:http"}, "port between 0 and 65535"},
		{"metrics without a port", []string{"demo", "--metrics-addr", "9464"}, "is not host:port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			// A check that is missing would reach this closed port and
			// exit 1, never a server of the machine.
			r := cliEnv(t, map[string]string{"REDIS_URL": "redis://" + closed}, strings.NewReader(""), tc.args...)
			if r.code != exitUsage {
				t.Fatalf("exit code %d, want %d\n%s", r.code, exitUsage, r)
			}
			wantOneErrorLine(t, r, tc.want, "--help")
			if r.stdout != "" {
				t.Errorf("stdout not empty on a usage error:\n%s", r)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("a usage error took %v", d)
			}
		})
	}
}

func TestMalformedRedisURLFromEnvIsUsageError(t *testing.T) {
	t.Parallel()
	r := cliEnv(t, map[string]string{"REDIS_URL": "not a url"}, nil, "info", "--stream", "s")
	if r.code != exitUsage {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitUsage, r)
	}
	wantOneErrorLine(t, r, "invalid redis URL")
}

func TestHelpExits0(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--help"}, {}, {"demo", "--help"}, {"help", "publish"}, {"group"}, {"dlq"}, {"topic"}, {"group", "--help"}, {"help", "group", "setid"}, {"help"}} {
		r := cli(t, nil, args...)
		if r.code != exitOK || !strings.Contains(r.stdout, "Usage:") || r.stderr != "" {
			t.Errorf("%q: want help on stdout and exit 0, got\n%s", args, r)
		}
	}
	r := cli(t, nil, "consume", "--help")
	if strings.Contains(r.stdout, "--max") {
		t.Errorf("consume --help shows the hidden --max flag:\n%s", r.stdout)
	}
}

// TestUnreachableServerExits1 points every command at a closed local port:
// each must fail on one line, with exit code 1, within a few seconds.
func TestUnreachableServerExits1(t *testing.T) {
	t.Parallel()
	url := "redis://" + closedPort(t)
	for _, args := range [][]string{
		{"info", "--redis", url, "--stream", "s"},
		{"publish", "--redis", url, "--stream", "s", "a=1"},
		{"consume", "--redis", url, "--stream", "s", "--group", "g"},
		{"demo", "--redis", url, "--tickets", "10"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			r := cli(t, strings.NewReader(""), args...)
			if r.code != exitFailure {
				t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
			}
			wantOneErrorLine(t, r, "unreachable", strings.TrimPrefix(url, "redis://"))
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v to report an unreachable server", d)
			}
		})
	}
}

func TestREDISURLIsTheDefault(t *testing.T) {
	t.Parallel()
	// REDIS_URL names a closed port; the error shows it was used.
	addr := closedPort(t)
	r := cliEnv(t, map[string]string{"REDIS_URL": "redis://" + addr}, nil, "info", "--stream", "s")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, addr)
	// --redis wins over REDIS_URL.
	other := closedPort(t)
	r = cliEnv(t, map[string]string{"REDIS_URL": "redis://" + addr}, nil, "info", "--redis", "redis://"+other, "--stream", "s")
	wantOneErrorLine(t, r, other)
}

func TestOneLine(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{errors.New("boom"), "redstream: boom"},
		{errors.New("redstream: already prefixed"), "redstream: already prefixed"},
		{errors.New("unknown command \"x\" for \"redstream\"\n\nDid you mean this?\n\tinfo\n"), `redstream: unknown command "x" for "redstream" (did you mean info?)`},
		{errors.New("two\nlines"), "redstream: two lines"},
		{describe(&redstream.Error{Op: "inspect", Key: "k", Kind: redstream.ErrNotStream, Err: errors.New("it holds a hash")}, "k"), "redstream: key k is not a stream (it holds a hash)"},
		{describe(&redstream.Error{Op: "inspect", Key: "k", Kind: redstream.ErrNoStream}, "k"), "redstream: stream k does not exist"},
	} {
		if got := oneLine(tc.err); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Catches: an ACL refusal reported as an authentication failure, or as
// anything but one line naming the command and the key (exit 1).
func TestNoPermissionIsOneClearLine(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	for _, cmd := range [][]string{
		{"XGROUP", "CREATE", "orders", "g", "0", "MKSTREAM"},
		// ~{orders}:*: the stream's scheduled entries, which the
		// Inspector counts, wait in "{orders}:scheduled:orders".
		{"ACL", "SETUSER", "nopending", "reset", "on", ">pw", "~orders*", "~{orders}:*", "+@all", "-xpending"},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	url := strings.Replace(srv.URL(), "redis://", "redis://nopending:pw@", 1)
	r := cli(t, nil, "pending", "--redis", url, "--stream", "orders", "--group", "g")
	if r.code != exitFailure {
		t.Fatalf("pending without XPENDING: want exit %d\n%s", exitFailure, r)
	}
	wantOneErrorLine(t, r, "permission denied", "'xpending'", "orders", "ACL SETUSER")
	if strings.Contains(r.stderr, "authentication") {
		t.Errorf("a missing permission is reported as an authentication failure:\n%s", r)
	}
}
