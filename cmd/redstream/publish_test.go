package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

var entryID = regexp.MustCompile(`^[0-9]+-[0-9]+\n$`)

func fieldsOf(e rueidis.XRangeSlice) []redstream.Field {
	fs := make([]redstream.Field, len(e.FieldValues))
	for i, fv := range e.FieldValues {
		fs[i] = redstream.Field{Name: fv.Field, Value: fv.Value}
	}
	return fs
}

func TestPublishFieldArgsThenInfo(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())

	r := cli(t, nil, "publish", "--redis", srv.URL(), "--stream", "orders", "item=book", "note=two words", "empty=", "eq=a=b")
	if r.code != exitOK || !entryID.MatchString(r.stdout) {
		t.Fatalf("publish of one entry should print its ID:\n%s", r)
	}
	es := entries(t, c, "orders")
	want := redstream.Fields("item", "book", "note", "two words", "empty", "", "eq", "a=b")
	if len(es) != 1 || es[0].ID != strings.TrimSpace(r.stdout) || !reflect.DeepEqual(fieldsOf(es[0]), want) {
		t.Fatalf("stream holds %+v, want one entry %s with %v", es, r.stdout, want)
	}

	r = cli(t, nil, "publish", "--redis", srv.URL(), "--stream", "orders", "--count", "5", "n={{seq}}", "label=item-{{seq}}-of-5")
	if r.code != exitOK || r.stdout != "published 5 entries to orders\n" {
		t.Fatalf("publish --count 5:\n%s", r)
	}
	es = entries(t, c, "orders")
	if len(es) != 6 {
		t.Fatalf("stream holds %d entries, want 6", len(es))
	}
	for i, e := range es[1:] {
		want := redstream.Fields("n", fmt.Sprint(i+1), "label", fmt.Sprintf("item-%d-of-5", i+1))
		if got := fieldsOf(e); !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d = %v, want %v", i+1, got, want)
		}
	}

	r = cli(t, nil, "info", "--redis", srv.URL(), "--stream", "orders")
	if r.code != exitOK {
		t.Fatalf("info:\n%s", r)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^length +6$`),
		regexp.MustCompile(`(?m)^first ID +` + es[0].ID + `$`),
		regexp.MustCompile(`(?m)^last ID +` + es[5].ID + `$`),
		regexp.MustCompile(`(?m)^groups +0$`),
	} {
		if !want.MatchString(r.stdout) {
			t.Errorf("info output does not match %s:\n%s", want, r)
		}
	}
}

func TestPublishJSONLinesFromStdin(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	stdin := strings.NewReader(`{"zeta":"last key first","alpha":"a"}` + "\n" +
		"\n" + // blank lines are skipped
		`  {"n": 42, "ok": true, "none": null, "list": [1, 2], "obj": {"b": 1, "a": "x"}, "s": "with \"quotes\""}  ` + "\r\n" +
		`{"dup":"1","dup":"2"}`) // no final newline
	r := cli(t, stdin, "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitOK || r.stdout != "published 3 entries to events\n" {
		t.Fatalf("publish from stdin:\n%s", r)
	}
	want := [][]redstream.Field{
		redstream.Fields("zeta", "last key first", "alpha", "a"),
		redstream.Fields("n", "42", "ok", "true", "none", "null", "list", "[1,2]", "obj", `{"b":1,"a":"x"}`, "s", `with "quotes"`),
		redstream.Fields("dup", "1", "dup", "2"),
	}
	es := entries(t, c, "events")
	if len(es) != len(want) {
		t.Fatalf("stream holds %d entries, want %d", len(es), len(want))
	}
	for i, e := range es {
		if got := fieldsOf(e); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("entry %d = %v, want %v", i, got, want[i])
		}
	}

	// One line: the ID is printed.
	r = cli(t, strings.NewReader(`{"a":"b"}`+"\n"), "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitOK || !entryID.MatchString(r.stdout) {
		t.Fatalf("publish of one JSON line should print its ID:\n%s", r)
	}
}

func TestPublishMalformedJSONLine(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	stdin := strings.NewReader(`{"a":"1"}` + "\n" + `{"a":"2"}` + "\n" + `{"a": oops}` + "\n" + `{"a":"4"}` + "\n")
	r := cli(t, stdin, "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "line 3", "invalid JSON", "published 2 entries to events before it")
	if es := entries(t, c, "events"); len(es) != 2 {
		t.Errorf("stream holds %d entries, want the 2 lines before the bad one", len(es))
	}
}

// longLine is a reader of a few short JSON lines, then one line of size
// bytes that never ends before the input does; it counts what is read.
type longLine struct {
	head string
	size int64
	read int64
}

func (l *longLine) Read(p []byte) (int, error) {
	if l.read < int64(len(l.head)) {
		n := copy(p, l.head[l.read:])
		l.read += int64(n)
		return n, nil
	}
	left := int64(len(l.head)) + l.size - l.read
	if left <= 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), left))
	for i := range p[:n] {
		p[i] = 'x'
	}
	l.read += int64(n)
	return n, nil
}

// TestPublishStdinLineBound: a line longer than --max-line stops publish
// with its line number, after the lines before it are published, having
// read little more than the bound of it.
func TestPublishStdinLineBound(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	in := &longLine{head: `{"a":"1"}` + "\n\n" + `{"a":"2"}` + "\n", size: 64 << 20}
	r := cli(t, in, "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "stdin line 4 is longer than 1048576 bytes, the --max-line bound", "published 2 entries to events before it")
	if es := entries(t, c, "events"); len(es) != 2 {
		t.Errorf("stream holds %d entries, want the 2 lines before the long one", len(es))
	}
	if in.read > 2<<20 {
		t.Errorf("publish read %d bytes of stdin to find a line longer than 1 MiB", in.read)
	}

	// --max-line raises the bound: a line of exactly the bound is taken.
	value := strings.Repeat("v", 3<<20)
	line := `{"big":"` + value + `"}`
	r = cli(t, strings.NewReader(line+"\n"), "publish", "--redis", srv.URL(), "--stream", "big", "--max-line", fmt.Sprint(len(line)))
	if r.code != exitOK {
		t.Fatalf("publish --max-line %d of a line that long:\n%s", len(line), r)
	}
	if es := entries(t, c, "big"); len(es) != 1 || es[0].FieldValues[0].Value != value {
		t.Errorf("the long line was not published whole")
	}
	r = cli(t, strings.NewReader(line), "publish", "--redis", srv.URL(), "--stream", "big", "--max-line", fmt.Sprint(len(line)-1))
	if r.code != exitFailure {
		t.Fatalf("a line one byte over --max-line, without a newline: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stdin line 1 is longer than")

	for _, bad := range []string{"0", "67108865"} {
		r = cli(t, strings.NewReader("{}\n"), "publish", "--redis", srv.URL(), "--stream", "big", "--max-line", bad)
		if r.code != exitUsage {
			t.Fatalf("--max-line %s: exit %d\n%s", bad, r.code, r)
		}
		wantOneErrorLine(t, r, "--max-line must be between 1 and 67108864")
	}
}

func TestPublishNothingOnStdin(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	r := cli(t, strings.NewReader("\n\n"), "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "nothing to publish")
	// No stdin at all, and no fields: bad usage.
	r = cli(t, nil, "publish", "--redis", srv.URL(), "--stream", "events")
	if r.code != exitUsage {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitUsage, r)
	}
	wantOneErrorLine(t, r, "no fields")
}

func TestPublishToKeyOfAnotherType(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	if err := do(t, client(t, srv.URL()), "SET", "plain", "x").Error(); err != nil {
		t.Fatal(err)
	}
	r := cli(t, nil, "publish", "--redis", srv.URL(), "--stream", "plain", "a=1")
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "key plain is not a stream")
}

func TestParseJSONFields(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    []redstream.Field
		wantErr string
	}{
		{`{"a":"b"}`, redstream.Fields("a", "b"), ""},
		{`{"b":"1","a":"2"}`, redstream.Fields("b", "1", "a", "2"), ""},
		{`{"n":1.50}`, redstream.Fields("n", "1.50"), ""}, // numbers keep their text
		{`{"u":"\u00e9\n"}`, redstream.Fields("u", "é\n"), ""},
		{`{}`, nil, "no fields"},
		{`[1,2]`, nil, "want a JSON object"},
		{`"str"`, nil, "want a JSON object"},
		{`{"a":}`, nil, "invalid JSON"},
		{`{"a":"b"`, nil, "invalid JSON"},
		{`{"a":"b"} {"c":"d"}`, nil, "more after the object"},
		{`{"a":"b"} x`, nil, "more after the object"},
		{`{a:"b"}`, nil, "invalid JSON"},
	} {
		got, err := parseJSONFields([]byte(tc.line))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseJSONFields(%s) error = %v, want %q", tc.line, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseJSONFields(%s) = %v, %v; want %v", tc.line, got, err, tc.want)
		}
	}
}

// FuzzParseJSONFields checks that any line either fails cleanly or gives
// fields that agree with encoding/json's reading of the same object.
func FuzzParseJSONFields(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"n":1,"o":{"x":[1,{"y":null}]}}`, `{"a":`, `[]`, `{"a":"b"}x`, `{"\u0000":"\ud800"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		fields, err := parseJSONFields([]byte(line))
		if err != nil {
			return
		}
		if len(fields) == 0 {
			t.Fatalf("parseJSONFields(%q) returned no fields and no error", line)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("parseJSONFields accepted %q, which encoding/json rejects: %v", line, err)
		}
		for _, fl := range fields {
			if _, ok := m[fl.Name]; !ok {
				t.Fatalf("field %q of %q is not a key of the object", fl.Name, line)
			}
		}
	})
}

func TestParseFieldArgs(t *testing.T) {
	got, err := parseFieldArgs([]string{"a=1", "b=", "c=x=y"})
	if want := redstream.Fields("a", "1", "b", "", "c", "x=y"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseFieldArgs = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"a", "=1", ""} {
		if _, err := parseFieldArgs([]string{bad}); err == nil {
			t.Errorf("parseFieldArgs(%q) succeeded", bad)
		}
	}
}

// readLine keeps lines of up to max bytes (newline not counted) whole,
// across reads of its buffer, and refuses longer ones.
func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		in    string
		max   int
		lines []string
		long  bool // the last line is too long
	}{
		{"a\nbb\n\nccc", 3, []string{"a\n", "bb\n", "\n", "ccc"}, false},
		{"abcd\n", 3, nil, true},
		{"abc\n", 3, []string{"abc\n"}, false},
		{"abcd", 3, nil, true},
		{strings.Repeat("x", 64<<10) + "\n" + "y", 64 << 10, []string{strings.Repeat("x", 64<<10) + "\n", "y"}, false},
		{strings.Repeat("x", 64<<10+1) + "\n", 64 << 10, nil, true},
	} {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 64<<10)
		var got []string
		var err error
		for {
			var line []byte
			line, err = readLine(br, nil, tc.max)
			if err != nil && len(line) == 0 || errors.Is(err, errLineTooLong) {
				break
			}
			got = append(got, string(line))
			if err != nil {
				break
			}
		}
		if errors.Is(err, errLineTooLong) != tc.long || !reflect.DeepEqual(got, tc.lines) {
			t.Errorf("readLine(%.20q..., max %d): lines %.40q, err %v; want %.40q, too long %v", tc.in, tc.max, got, err, tc.lines, tc.long)
		}
	}
}

// topicEntries returns every event of topic t, per partition.
func topicEntries(t *testing.T, c rueidis.Client, top *redstream.Topic) [][]rueidis.XRangeSlice {
	t.Helper()
	out := make([][]rueidis.XRangeSlice, top.Partitions())
	for i := range out {
		out[i] = entries(t, c, top.Stream(i))
	}
	return out
}

func createTopic(t *testing.T, c rueidis.Client, name string, n int) *redstream.Topic {
	t.Helper()
	top, err := redstream.CreateTopic(ctxT(t, 10*time.Second), c, name, n)
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// TestPublishTopicKeyPicksThePartition: every event goes to its key's
// partition, with the key as its first field and the fields in order.
func TestPublishTopicKeyPicksThePartition(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	top := createTopic(t, c, "orders", 4)

	r := cli(t, nil, "publish", "--redis", url, "--topic", "orders", "--key", "customer-7", "what=placed", "total=12")
	want := top.Partition("customer-7")
	if r.code != exitOK || !regexp.MustCompile(fmt.Sprintf(`^\d+-\d+ partition %d\n$`, want)).MatchString(r.stdout) {
		t.Fatalf("publish --topic --key:\n%s", r)
	}
	es := entries(t, c, top.Stream(want))
	if len(es) != 1 || len(es[0].FieldValues) != 3 || es[0].FieldValues[0] != (rueidis.XRangeFieldValue{Field: redstream.KeyField, Value: "customer-7"}) ||
		es[0].FieldValues[1].Field != "what" || es[0].FieldValues[2].Value != "12" {
		t.Fatalf("partition %d holds %+v; want the one event keyed customer-7", want, es)
	}

	r = cli(t, nil, "publish", "--redis", url, "--topic", "orders", "--key", "k-{{seq}}", "--count", "40", "n={{seq}}")
	if r.code != exitOK || r.stdout != "published 40 events to topic orders\n" {
		t.Fatalf("publish --topic --count 40:\n%s", r)
	}
	stdin := strings.NewReader(`{"key":"json-1","n":"a"}` + "\n" + `{"n":"b","key":"json-2"}` + "\n")
	r = cli(t, stdin, "publish", "--redis", url, "--topic", "orders")
	if r.code != exitOK {
		t.Fatalf("publish --topic from stdin:\n%s", r)
	}
	stdin = strings.NewReader(`{"customer":"json-3","n":"c"}` + "\n")
	if r = cli(t, stdin, "publish", "--redis", url, "--topic", "orders", "--key-field", "customer"); r.code != exitOK {
		t.Fatalf("publish --topic --key-field from stdin:\n%s", r)
	}
	keys := map[string]int{}
	for p, es := range topicEntries(t, c, top) {
		for _, e := range es {
			if e.FieldValues[0].Field != redstream.KeyField {
				t.Fatalf("partition %d: event %+v has no key first", p, e)
			}
			k := e.FieldValues[0].Value
			keys[k]++
			if top.Partition(k) != p {
				t.Errorf("event of key %s in partition %d, want %d", k, p, top.Partition(k))
			}
		}
	}
	wantKeys := map[string]int{"customer-7": 1, "json-1": 1, "json-2": 1, "json-3": 1}
	for i := 1; i <= 40; i++ {
		wantKeys["k-"+strconv.Itoa(i)] = 1
	}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Errorf("the topic's events have keys %v, want %v", keys, wantKeys)
	}
}

func TestPublishTopicErrors(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	top := createTopic(t, c, "orders", 2)

	// A line without its key stops publish after the lines before it.
	stdin := strings.NewReader(`{"key":"a","n":"1"}` + "\n" + `{"n":"2"}` + "\n" + `{"key":"b","n":"3"}` + "\n")
	r := cli(t, stdin, "publish", "--redis", url, "--topic", "orders")
	if r.code != exitFailure {
		t.Fatalf("a line without a key: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stdin line 2", `no member "key"`, "published 1 entry to topic orders before it")
	total := 0
	for _, es := range topicEntries(t, c, top) {
		total += len(es)
	}
	if total != 1 {
		t.Errorf("the topic holds %d events, want the 1 before the bad line", total)
	}

	r = cli(t, nil, "publish", "--redis", url, "--topic", "nope", "--key", "k", "a=1")
	if r.code != exitFailure {
		t.Fatalf("publish to a missing topic: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "topic nope does not exist")

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "orders", "--stream", "s", "a=1"}, "not both"},
		{[]string{"--stream", "s", "--key", "k", "a=1"}, "--key and --key-field need --topic"},
		{[]string{"--topic", "", "a=1"}, "--topic must not be empty"},
		{[]string{"--topic", "orders", "--key-field", ""}, "--key-field must not be empty"},
		{[]string{"--topic", "a{b}", "a=1"}, "without braces"},
	} {
		r := cli(t, strings.NewReader(""), append([]string{"publish", "--redis", url}, tc.args...)...)
		if r.code != exitUsage {
			t.Fatalf("publish %v: exit %d, want %d\n%s", tc.args, r.code, exitUsage, r)
		}
		wantOneErrorLine(t, r, tc.want)
	}
}

func TestPublishMsgIDWritesOnce(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()

	r := cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--msg-id", "order-1", "item=book")
	if r.code != exitOK || !entryID.MatchString(r.stdout) {
		t.Fatalf("publish --msg-id should print the entry's ID:\n%s", r)
	}
	first := strings.TrimSpace(r.stdout)
	r = cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--msg-id", "order-1", "item=book")
	if r.code != exitOK || r.stdout != first+" duplicate\n" {
		t.Fatalf("publish of the same --msg-id again should print %q:\n%s", first+" duplicate", r)
	}
	r = cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--count", "3", "--msg-id", "b-{{seq}}", "n={{seq}}")
	if r.code != exitOK || r.stdout != "published 3 entries to orders\n" {
		t.Fatalf("publish --count 3 --msg-id:\n%s", r)
	}
	r = cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--count", "5", "--msg-id", "b-{{seq}}", "n={{seq}}")
	if r.code != exitOK || r.stdout != "published 2 entries to orders (3 already published, not written again)\n" {
		t.Fatalf("publish --count 5 over the first 3:\n%s", r)
	}
	es := entries(t, c, "orders")
	if len(es) != 6 {
		t.Fatalf("stream holds %d entries, want 6", len(es))
	}
	for i, e := range es[1:] {
		if got := e.FieldValues[0].Value; got != strconv.Itoa(i+1) {
			t.Fatalf("entry %d has n=%s, want %d: each numbered entry once, in order", i+1, got, i+1)
		}
	}

	top := createTopic(t, c, "tickets", 4)
	r = cli(t, nil, "publish", "--redis", url, "--topic", "tickets", "--key", "customer-7", "--msg-id", "t-1", "what=placed")
	again := cli(t, nil, "publish", "--redis", url, "--topic", "tickets", "--key", "customer-7", "--msg-id", "t-1", "what=placed")
	part := top.Partition("customer-7")
	if r.code != exitOK || again.code != exitOK || again.stdout != strings.TrimSuffix(r.stdout, "\n")+" duplicate\n" {
		t.Fatalf("publish --topic --msg-id twice:\n%s\n%s", r, again)
	}
	if es := entries(t, c, top.Stream(part)); len(es) != 1 {
		t.Fatalf("partition holds %d events, want 1", len(es))
	}

	for _, args := range [][]string{
		{"--msg-id", "", "a=1"},
		{"--msg-id", "same", "--count", "2", "a=1"},
		{"--msg-id", "m"}, // stdin
	} {
		r := cli(t, strings.NewReader(`{"a":"1"}`+"\n"), append([]string{"publish", "--redis", url, "--stream", "bad"}, args...)...)
		if r.code != exitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("publish %v: want a one-line usage error (exit 2):\n%s", args, r)
		}
	}
	if es := entries(t, c, "bad"); len(es) != 0 {
		t.Fatalf("usage errors wrote %d entries", len(es))
	}
}
