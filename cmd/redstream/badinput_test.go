package main

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Bad input that must not lose or change bytes, found by probing the CLI.
// Each test runs against a real redis-server.

// jsonStrings walks a decoded JSON value and calls f with each string
// member: its key ("" inside lists) and its value.
func jsonStrings(v any, key string, f func(key, s string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			jsonStrings(x, k, f)
		}
	case []any:
		for _, x := range v {
			jsonStrings(x, key, f)
		}
	case string:
		f(key, v)
	}
}

// losslessJSON decodes every JSON value in out and fails if a string was
// replaced by U+FFFD, or if none of the strings (plain or "_base64")
// gives back each of want exactly.
func losslessJSON(t *testing.T, what, out string, want ...string) {
	t.Helper()
	got := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", what, err, out)
		}
		jsonStrings(v, "", func(key, s string) {
			if strings.ContainsRune(s, '\ufffd') {
				t.Errorf("%s: member %q holds U+FFFD: the original bytes are lost: %q", what, key, s)
			}
			got[s] = true
			if strings.HasSuffix(key, "_base64") {
				if b, err := base64.StdEncoding.DecodeString(s); err == nil {
					got[string(b)] = true
				}
			}
		})
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("%s: no member gives back %q exactly:\n%s", what, w, out)
		}
	}
}

// info, pending and topic info --json keep every byte of the names they
// print, as consume, tail and dlq --json do: a name that is not valid
// UTF-8 must not come out as U+FFFD.
func TestInspectJSONKeepsEveryByte(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	const (
		stream   = "b\nx\xff"
		group    = "g\n\xff"
		consumer = "c\n\xff\x1b[31m"
		topic    = "t\xff"
	)
	for _, cmd := range [][]string{
		{"XADD", stream, "*", "k", "v"},
		{"XGROUP", "CREATE", stream, group, "0"},
		{"XREADGROUP", "GROUP", group, consumer, "COUNT", "1", "STREAMS", stream, ">"},
	} {
		if err := do(t, c, cmd...).Error(); err != nil {
			t.Fatalf("%q: %v", cmd, err)
		}
	}

	r := cli(t, nil, "info", "--redis", url, "--stream", stream, "--json")
	if r.code != exitOK {
		t.Fatalf("info --json:\n%s", r)
	}
	losslessJSON(t, "info --json", r.stdout, stream, group, consumer)

	r = cli(t, nil, "pending", "--redis", url, "--stream", stream, "--group", group, "--json")
	if r.code != exitOK {
		t.Fatalf("pending --json:\n%s", r)
	}
	losslessJSON(t, "pending --json", r.stdout, consumer)

	if r = cli(t, nil, "topic", "create", "--redis", url, "--topic", topic, "--partitions", "2"); r.code != exitOK {
		t.Fatalf("topic create:\n%s", r)
	}
	r = cli(t, nil, "topic", "info", "--redis", url, "--topic", topic, "--json")
	if r.code != exitOK {
		t.Fatalf("topic info --json:\n%s", r)
	}
	losslessJSON(t, "topic info --json", r.stdout, topic)
}

// A line of stdin JSON whose string holds bytes that are not UTF-8 is
// either published byte for byte or refused; it is never stored with
// U+FFFD in place of the bytes.
func TestPublishStdinDoesNotMangleInvalidUTF8(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	r := cli(t, strings.NewReader("{\"a\":\"x\xffy\"}\n"), "publish", "--redis", srv.URL(), "--stream", "s")
	es := entries(t, c, "s")
	switch {
	case r.code == exitOK:
		if len(es) != 1 || len(es[0].FieldValues) != 1 || es[0].FieldValues[0].Value != "x\xffy" {
			t.Errorf("published %q, want the value \"x\\xffy\" byte for byte\n%s", es, r)
		}
	default:
		wantOneErrorLine(t, r, "line 1")
		if len(es) != 0 {
			t.Errorf("refused the line but published %q", es)
		}
	}
}

// dlq show prints a dead letter's error so that strconv.Unquote gives
// back its bytes, as the README says of dlq show's text: a multi-line
// error (a panic's stack, say) is not folded onto one line.
func TestDLQShowKeepsTheErrorsBytes(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	const errText = "first line\nsecond  line\tend"
	if err := do(t, c, "XADD", "s:dead", "*",
		"dead.id", "1-0", "dead.stream", "s", "dead.group", "g", "dead.consumer", "c",
		"dead.deliveries", "1", "dead.error", errText, "dead.time", "2024-01-01T00:00:00Z", "k", "v").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "dlq", "show", "--redis", srv.URL(), "--stream", "s", deadID(t, c, "s:dead"))
	if r.code != exitOK {
		t.Fatalf("dlq show:\n%s", r)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		rest, ok := strings.CutPrefix(line, "error")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		got, err := strconv.Unquote(rest)
		if err != nil {
			got = rest
		}
		if got != errText {
			t.Errorf("dlq show prints the error as %s, which gives back %q, not %q", rest, got, errText)
		}
		return
	}
	t.Errorf("dlq show prints no error line:\n%s", r)
}
