package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// traceparent is a W3C trace context header value, as a tracer writes it.
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// hdr is the stored name of header name.
func hdr(name string) string { return redstream.HeaderPrefix + name }

// wireEntryWithHeaders decodes a line of --json output of an entry that
// may have headers, in either form of each member.
type wireEntryWithHeaders struct {
	ID           string      `json:"id"`
	Stream       *string     `json:"stream"`
	StreamBase64 []byte      `json:"stream_base64"`
	Fields       []wireField `json:"fields"`
	Headers      []wireField `json:"headers"`
	Deliveries   int         `json:"deliveries"`
}

// decodeWithHeaders reads one line of --json output back into a Message,
// headers included; unknown members fail the test.
func decodeWithHeaders(t *testing.T, line []byte) redstream.Message {
	t.Helper()
	var w wireEntryWithHeaders
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("line %s: %v", line, err)
	}
	return redstream.Message{
		ID: w.ID, Stream: either(t, "stream", w.Stream, w.StreamBase64), Deliveries: w.Deliveries,
		Fields: wireFields(t, w.Fields), Headers: wireFields(t, w.Headers),
	}
}

func wireFields(t *testing.T, ws []wireField) []redstream.Field {
	t.Helper()
	var fs []redstream.Field
	for _, f := range ws {
		fs = append(fs, redstream.Field{Name: either(t, "name", f.Name, f.NameBase64), Value: either(t, "value", f.Value, f.ValueBase64)})
	}
	return fs
}

// An entry's headers print apart from its fields: in JSON as "headers"
// after "fields" (what encoding/json writes for the Message and the
// DeadLetter), in text as the stored names before the fields; every byte
// comes back from both.
func TestJSONLineAndTextLineWithHeaders(t *testing.T) {
	m := &redstream.Message{
		ID: "1-2", Stream: "s", Deliveries: 3,
		Headers: redstream.Fields("traceparent", traceparent, "two words", "a=b", "", "empty name", "bin", "\xff\x00"),
		Fields:  redstream.Fields("a", "1", "note", "x y"),
	}
	got := string(jsonLine(m))
	want := `{"id":"1-2","stream":"s","fields":[{"name":"a","value":"1"},{"name":"note","value":"x y"}],` +
		`"headers":[{"name":"traceparent","value":"` + traceparent + `"},{"name":"two words","value":"a=b"},{"name":"","value":"empty name"},{"name":"bin","value_base64":"/wA="}],"deliveries":3}` + "\n"
	if got != want {
		t.Errorf("jsonLine =\n%s\nwant\n%s", got, want)
	}
	back := decodeWithHeaders(t, []byte(got))
	if !reflect.DeepEqual(back.Headers, m.Headers) || !reflect.DeepEqual(back.Fields, m.Fields) {
		t.Errorf("jsonLine decodes as headers %q fields %q, want %q %q", back.Headers, back.Fields, m.Headers, m.Fields)
	}

	// Valid UTF-8: exactly encoding/json's output of the library's types.
	m.Headers = m.Headers[:3]
	wantJSON, _ := json.Marshal(m)
	if got := jsonLine(m); string(got) != string(wantJSON)+"\n" {
		t.Errorf("jsonLine =\n%s\nencoding/json of the Message =\n%s", got, wantJSON)
	}
	d := &redstream.DeadLetter{ID: "5-0", OriginalID: "1-2", Stream: "s", Error: "boom", Time: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Fields: m.Fields, Headers: m.Headers}
	wantJSON, _ = json.Marshal(d)
	if got := deadLetterJSON(d); string(got) != string(wantJSON)+"\n" {
		t.Errorf("deadLetterJSON =\n%s\nencoding/json of the DeadLetter =\n%s", got, wantJSON)
	}

	m.Headers = redstream.Fields("traceparent", traceparent, "two words", "a=b", "", "empty name", "bin", "\xff\x00")
	text := string(textLine(m))
	wantText := `1-2 redstream:h:traceparent=` + traceparent + ` "redstream:h:two words"="a=b" redstream:h:="empty name" redstream:h:bin="\xff\x00" a=1 note="x y"` + "\n"
	if text != wantText {
		t.Errorf("textLine =\n%q\nwant\n%q", text, wantText)
	}
	var heads, fields []redstream.Field
	for _, tok := range splitTextLine(t, text)[1:] {
		name, value := splitQuoted(t, tok)
		if h, ok := strings.CutPrefix(name, redstream.HeaderPrefix); ok {
			heads = append(heads, redstream.Field{Name: h, Value: value})
		} else {
			fields = append(fields, redstream.Field{Name: name, Value: value})
		}
	}
	if !reflect.DeepEqual(heads, m.Headers) || !reflect.DeepEqual(fields, m.Fields) {
		t.Errorf("textLine reads back as headers %q fields %q, want %q %q", heads, fields, m.Headers, m.Fields)
	}
}

// splitTextLine splits a text line into its tokens, a quoted string
// (which may hold spaces) staying whole.
func splitTextLine(t *testing.T, line string) []string {
	t.Helper()
	var toks []string
	rest := strings.TrimSuffix(line, "\n")
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] != ' ' {
			if rest[i] == '"' {
				q, err := strconv.QuotedPrefix(rest[i:])
				if err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				i += len(q)
				continue
			}
			i++
		}
		toks = append(toks, rest[:i])
		rest = strings.TrimPrefix(rest[i:], " ")
	}
	return toks
}

// The hot path still allocates nothing for an entry with headers.
func TestAppendJSONLineWithHeadersDoesNotAllocate(t *testing.T) {
	m := &redstream.Message{ID: "1700000000000-0", Stream: "tickets", Deliveries: 1,
		Headers: redstream.Fields("traceparent", traceparent), Fields: redstream.Fields("ticketID", "42")}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendJSONLine(buf[:0], m) }); n != 0 {
		t.Errorf("appendJSONLine allocates %v times per entry", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = appendTextLine(buf[:0], m) }); n != 0 {
		t.Errorf("appendTextLine allocates %v times per entry", n)
	}
}

// publish --header gives every entry of the call its headers, stored as
// "redstream:h:<name>" fields before the fields, to a stream, with
// --msg-id, to a topic and scheduled.
func TestPublishHeaderFlag(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	heads := []string{"--header", "traceparent=" + traceparent, "--header", "tenant=acme=1", "--header", "empty="}
	wantHeads := []string{hdr("traceparent"), traceparent, hdr("tenant"), "acme=1", hdr("empty"), ""}

	r := cli(t, nil, append(append([]string{"publish", "--redis", url, "--stream", "orders", "--count", "2"}, heads...), "n={{seq}}")...)
	if r.code != exitOK || r.stdout != "published 2 entries to orders\n" {
		t.Fatalf("publish --header --count 2:\n%s", r)
	}
	r = cli(t, nil, append(append([]string{"publish", "--redis", url, "--stream", "orders", "--msg-id", "m-1"}, heads...), "n=3")...)
	if r.code != exitOK || !entryID.MatchString(r.stdout) {
		t.Fatalf("publish --header --msg-id:\n%s", r)
	}
	es := entries(t, c, "orders")
	if len(es) != 3 {
		t.Fatalf("orders holds %d entries, want 3", len(es))
	}
	for i, e := range es {
		want := redstream.Fields(append(append([]string(nil), wantHeads...), "n", string(rune('1'+i)))...)
		if got := fieldsOf(e); !reflect.DeepEqual(got, want) {
			t.Errorf("entry %d stores %q, want %q", i+1, got, want)
		}
	}

	// A topic: the headers go with each event, read back by consume --topic.
	if r := cli(t, nil, "topic", "create", "--redis", url, "--topic", "payments", "--partitions", "2"); r.code != exitOK {
		t.Fatalf("topic create:\n%s", r)
	}
	r = cli(t, nil, append(append([]string{"publish", "--redis", url, "--topic", "payments", "--key", "k-{{seq}}", "--count", "4"}, heads...), "n={{seq}}")...)
	if r.code != exitOK {
		t.Fatalf("publish --topic --header:\n%s", r)
	}
	r = cli(t, nil, "consume", "--redis", url, "--topic", "payments", "--group", "g", "--max", "4", "--json")
	if r.code != exitOK || strings.Count(r.stdout, "\n") != 4 {
		t.Fatalf("consume --topic --json:\n%s", r)
	}
	for _, line := range strings.SplitAfter(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		m := decodeWithHeaders(t, []byte(line))
		if want := redstream.Fields("traceparent", traceparent, "tenant", "acme=1", "empty", ""); !reflect.DeepEqual(m.Headers, want) {
			t.Errorf("topic event %s has headers %q, want %q", m.ID, m.Headers, want)
		}
		for _, f := range m.Fields {
			if strings.HasPrefix(f.Name, redstream.HeaderPrefix) {
				t.Errorf("topic event %s has a header among its fields: %q", m.ID, m.Fields)
			}
		}
	}

	// Scheduled: the headers wait with the entry and are listed apart.
	r = cli(t, nil, append(append([]string{"publish", "--redis", url, "--stream", "later", "--in", "1h"}, heads...), "n=1")...)
	if r.code != exitOK {
		t.Fatalf("publish --in --header:\n%s", r)
	}
	r = cli(t, nil, "scheduled", "list", "--redis", url, "--stream", "later", "--json")
	var sm struct {
		Fields  []wireField `json:"fields"`
		Headers []wireField `json:"headers"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sm); r.code != exitOK || err != nil {
		t.Fatalf("scheduled list --json (%v):\n%s", err, r)
	}
	if got, want := wireFields(t, sm.Headers), redstream.Fields("traceparent", traceparent, "tenant", "acme=1", "empty", ""); !reflect.DeepEqual(got, want) {
		t.Errorf("scheduled list --json: headers %q, want %q", got, want)
	}
	if got := wireFields(t, sm.Fields); !reflect.DeepEqual(got, redstream.Fields("n", "1")) {
		t.Errorf("scheduled list --json: fields %q, want n=1 alone", got)
	}
	r = cli(t, nil, "scheduled", "list", "--redis", url, "--stream", "later")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^ID +DUE +IN +HEADERS +FIELDS$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m) traceparent=00-4bf92f\S* tenant=acme\S* +n=1$`).MatchString(r.stdout) {
		t.Errorf("scheduled list shows no HEADERS column apart from the fields:\n%s", r)
	}
}

func TestPublishHeaderUsageErrors(t *testing.T) {
	t.Parallel()
	url := "redis://" + closedPort(t) // nothing is sent: usage is checked first
	for _, tc := range []struct {
		header, want string
	}{
		{"=value", `--header "=value" is not name=value with a name that is not empty`},
		{"noequals", `--header "noequals" is not name=value`},
		{"", `--header "" is not name=value`},
	} {
		r := cli(t, nil, "publish", "--redis", url, "--stream", "s", "--header", tc.header, "a=1")
		if r.code != exitUsage {
			t.Errorf("--header %q: exit %d, want %d\n%s", tc.header, r.code, exitUsage, r)
			continue
		}
		wantOneErrorLine(t, r, tc.want)
	}
}

// A stdin object's headers member holds headers (an object, or the list
// consume --json prints, with _base64 for bytes that are not UTF-8),
// written after those of --header; --headers-member ” takes it as a
// field.
func TestPublishJSONLinesWithHeaders(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	stdin := strings.NewReader(`{"headers":{"traceparent":"` + traceparent + `","n":7},"a":"1"}` + "\n" +
		`{"a":"2","headers":[{"name":"x","value":"y"},{"name_base64":"/w==","value_base64":"AP4="}]}` + "\n" +
		`{"a":"3"}` + "\n")
	r := cli(t, stdin, "publish", "--redis", url, "--stream", "events", "--header", "tenant=acme")
	if r.code != exitOK || r.stdout != "published 3 entries to events\n" {
		t.Fatalf("publish from stdin with headers:\n%s", r)
	}
	want := [][]redstream.Field{
		redstream.Fields(hdr("tenant"), "acme", hdr("traceparent"), traceparent, hdr("n"), "7", "a", "1"),
		redstream.Fields(hdr("tenant"), "acme", hdr("x"), "y", hdr("\xff"), "\x00\xfe", "a", "2"),
		redstream.Fields(hdr("tenant"), "acme", "a", "3"),
	}
	es := entries(t, c, "events")
	if len(es) != len(want) {
		t.Fatalf("events holds %d entries, want %d", len(es), len(want))
	}
	for i, e := range es {
		if got := fieldsOf(e); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("entry %d stores %q, want %q", i+1, got, want[i])
		}
	}

	// What consume --json prints of an entry, piped back, gives its headers.
	r = cli(t, nil, "tail", "--redis", url, "--stream", "events", "--from", "0", "--count", "2", "--json")
	if r.code != exitOK {
		t.Fatalf("tail --json:\n%s", r)
	}
	second := decodeWithHeaders(t, []byte(strings.SplitAfter(r.stdout, "\n")[1]))
	if !reflect.DeepEqual(second.Headers, redstream.Fields("tenant", "acme", "x", "y", "\xff", "\x00\xfe")) {
		t.Fatalf("tail --json headers %q", second.Headers)
	}
	var obj struct {
		Headers json.RawMessage `json:"headers"`
	}
	if err := json.Unmarshal([]byte(strings.SplitAfter(r.stdout, "\n")[1]), &obj); err != nil {
		t.Fatal(err)
	}
	line := `{"headers":` + string(obj.Headers) + `,"a":"again"}` + "\n"
	r = cli(t, strings.NewReader(line), "publish", "--redis", url, "--stream", "copy")
	if r.code != exitOK {
		t.Fatalf("publish of %s:\n%s", line, r)
	}
	if got, want := fieldsOf(entries(t, c, "copy")[0]), redstream.Fields(hdr("tenant"), "acme", hdr("x"), "y", hdr("\xff"), "\x00\xfe", "a", "again"); !reflect.DeepEqual(got, want) {
		t.Errorf("the headers of tail --json published again store %q, want %q", got, want)
	}

	// Off: the member is a field, as before headers.
	r = cli(t, strings.NewReader(`{"headers":{"k":"v"},"a":"1"}`+"\n"), "publish", "--redis", url, "--stream", "plain", "--headers-member", "")
	if r.code != exitOK {
		t.Fatalf("publish --headers-member '':\n%s", r)
	}
	if got, want := fieldsOf(entries(t, c, "plain")[0]), redstream.Fields("headers", `{"k":"v"}`, "a", "1"); !reflect.DeepEqual(got, want) {
		t.Errorf("--headers-member '': entry stores %q, want %q", got, want)
	}
	// Another name.
	r = cli(t, strings.NewReader(`{"meta":{"k":"v"},"headers":"a field","a":"1"}`+"\n"), "publish", "--redis", url, "--stream", "other", "--headers-member", "meta")
	if r.code != exitOK {
		t.Fatalf("publish --headers-member meta:\n%s", r)
	}
	if got, want := fieldsOf(entries(t, c, "other")[0]), redstream.Fields(hdr("k"), "v", "headers", "a field", "a", "1"); !reflect.DeepEqual(got, want) {
		t.Errorf("--headers-member meta: entry stores %q, want %q", got, want)
	}

	// A headers member of another shape stops publish at its line.
	r = cli(t, strings.NewReader(`{"a":"1"}`+"\n"+`{"headers":"v","a":"2"}`+"\n"), "publish", "--redis", url, "--stream", "bad")
	if r.code != exitFailure {
		t.Fatalf("a string headers member: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, "stdin line 2", `member "headers"`, "published 1 entry to bad before it")
}

func TestParseJSONLineHeaders(t *testing.T) {
	for _, tc := range []struct {
		line            string
		headers, fields []redstream.Field
		wantErr         string
	}{
		{line: `{"headers":{"t":"1","u":"2"},"a":"b"}`, headers: redstream.Fields("t", "1", "u", "2"), fields: redstream.Fields("a", "b")},
		{line: `{"a":"b","headers":{"n":1.50,"o":{"x":null}}}`, headers: redstream.Fields("n", "1.50", "o", `{"x":null}`), fields: redstream.Fields("a", "b")},
		{line: ` { "headers" : { "t" : "1" } , "a" : "b" } `, headers: redstream.Fields("t", "1"), fields: redstream.Fields("a", "b")},
		{line: `{"headers": [ {"name": "t", "value": "1"} ],"a":"b"}`, headers: redstream.Fields("t", "1"), fields: redstream.Fields("a", "b")},
		{line: `{"headers":[],"a":"b"}`, fields: redstream.Fields("a", "b")},
		{line: `{"headers":{},"a":"b"}`, fields: redstream.Fields("a", "b")},
		{line: `{"headers":[{"name":"t","value":"1"},{"name":"t","value":"2"}],"a":"b"}`, headers: redstream.Fields("t", "1", "t", "2"), fields: redstream.Fields("a", "b")},
		{line: `{"headers":[{"name":"t","value_base64":"/w=="}],"a":"b"}`, headers: redstream.Fields("t", "\xff"), fields: redstream.Fields("a", "b")},
		{line: `{"headers":{"t":"1"}}`, wantErr: "no fields"},
		{line: `{"headers":"x","a":"b"}`, wantErr: "want the headers as an object"},
		{line: `{"headers":null,"a":"b"}`, wantErr: "want the headers as an object"},
		{line: `{"headers":[1],"a":"b"}`, wantErr: "want the headers as an object"},
		{line: `{"headers":{"":"v"},"a":"b"}`, wantErr: "needs a name"},
		{line: `{"headers":[{"name":"","value":"v"}],"a":"b"}`, wantErr: "header 1: a header needs a name"},
		{line: `{"headers":[{"name":"t"}],"a":"b"}`, wantErr: `header 1: want exactly one of "value" and "value_base64"`},
		{line: `{"headers":[{"name":"t","name_base64":"dA==","value":"v"}],"a":"b"}`, wantErr: `want exactly one of "name" and "name_base64"`},
		{line: `{"headers":[{"name":"t","value":1}],"a":"b"}`, wantErr: `"value" is not a string`},
		{line: `{"headers":[{"name":"t","value_base64":"%%"}],"a":"b"}`, wantErr: `"value_base64" is not standard base64`},
		{line: `{"headers":[{"name":"t","value":"v","extra":1}],"a":"b"}`, wantErr: `unknown member "extra"`},
	} {
		headers, fields, err := parseJSONLine([]byte(tc.line), "headers")
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parseJSONLine(%s) error = %v, want %q", tc.line, err, tc.wantErr)
			} else if tc.wantErr != "no fields" && !strings.Contains(err.Error(), "--headers-member '' takes it as a field") {
				t.Errorf("parseJSONLine(%s) error = %v, want it to say how to take the member as a field", tc.line, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(headers, tc.headers) || !reflect.DeepEqual(fields, tc.fields) {
			t.Errorf("parseJSONLine(%s) = %q, %q, %v; want %q, %q", tc.line, headers, fields, err, tc.headers, tc.fields)
		}
	}
	// Without a headers member, every member is a field.
	headers, fields, err := parseJSONLine([]byte(`{"headers":{"t":"1"}}`), "")
	if err != nil || headers != nil || !reflect.DeepEqual(fields, redstream.Fields("headers", `{"t":"1"}`)) {
		t.Errorf(`parseJSONLine with no headers member = %q, %q, %v`, headers, fields, err)
	}
}

// consume, tail, dlq list/show and their --json show the headers of an
// entry published with --header apart from its fields; a dead letter
// keeps them, and so does its replay.
func TestCommandsPrintHeaders(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	r := cli(t, nil, "publish", "--redis", url, "--stream", "orders", "--header", "traceparent="+traceparent, "--header", "odd name=\x1b", "order=7")
	if r.code != exitOK {
		t.Fatalf("publish --header:\n%s", r)
	}
	id := strings.TrimSpace(r.stdout)
	wantHeaders := redstream.Fields("traceparent", traceparent, "odd name", "\x1b")
	wantFields := redstream.Fields("order", "7")
	wantText := id + ` redstream:h:traceparent=` + traceparent + ` "redstream:h:odd name"="\x1b" order=7` + "\n"

	check := func(what string, m redstream.Message) {
		t.Helper()
		if !reflect.DeepEqual(m.Headers, wantHeaders) || !reflect.DeepEqual(m.Fields, wantFields) {
			t.Errorf("%s: headers %q fields %q, want %q %q", what, m.Headers, m.Fields, wantHeaders, wantFields)
		}
	}
	r = cli(t, nil, "consume", "--redis", url, "--stream", "orders", "--group", "json", "--max", "1", "--json")
	if r.code != exitOK {
		t.Fatalf("consume --json:\n%s", r)
	}
	check("consume --json", decodeWithHeaders(t, []byte(r.stdout)))
	r = cli(t, nil, "consume", "--redis", url, "--stream", "orders", "--group", "text", "--max", "1")
	if r.code != exitOK || r.stdout != wantText {
		t.Errorf("consume prints %q, want %q\n%s", r.stdout, wantText, r)
	}
	r = cli(t, nil, "tail", "--redis", url, "--stream", "orders", "--from", "0", "--count", "1", "--json")
	if r.code != exitOK {
		t.Fatalf("tail --json:\n%s", r)
	}
	check("tail --json", decodeWithHeaders(t, []byte(r.stdout)))
	r = cli(t, nil, "tail", "--redis", url, "--stream", "orders", "--from", "0", "--count", "1")
	if r.code != exitOK || r.stdout != wantText {
		t.Errorf("tail prints %q, want %q\n%s", r.stdout, wantText, r)
	}

	// A dead letter of the entry.
	cons, err := redstream.NewConsumer(c, "orders", "billing", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
		return redstream.Permanent(errors.New("declined"))
	}), redstream.StartID("0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cons.Run(context.Background()) }()
	waitFor(t, 10*time.Second, "the dead letter", func() bool { return cons.Stats().DeadLettered == 1 })
	cons.Shutdown(ctxT(t, 5*time.Second))
	<-done
	dead := deadID(t, c, "orders:dead")

	for _, args := range [][]string{{"list"}, {"show", dead}} {
		r = cli(t, nil, append(append([]string{"dlq"}, args...), "--redis", url, "--stream", "orders", "--json")...)
		var d struct {
			Fields  []wireField `json:"fields"`
			Headers []wireField `json:"headers"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &d); r.code != exitOK || err != nil {
			t.Fatalf("dlq %s --json (%v):\n%s", args[0], err, r)
		}
		check("dlq "+args[0]+" --json", redstream.Message{Fields: wireFields(t, d.Fields), Headers: wireFields(t, d.Headers)})
	}
	r = cli(t, nil, "dlq", "show", "--redis", url, "--stream", "orders", dead)
	if r.code != exitOK || !regexp.MustCompile(`(?m)^headers\n  traceparent +`+traceparent+`\n  odd name +"\\x1b"\nfields\n  order +7\n`).MatchString(r.stdout) {
		t.Errorf("dlq show does not list the headers apart from the fields:\n%s", r)
	}
	r = cli(t, nil, "dlq", "replay", "--redis", url, "--stream", "orders", "--all")
	if r.code != exitOK {
		t.Fatalf("dlq replay:\n%s", r)
	}
	r = cli(t, nil, "tail", "--redis", url, "--stream", "orders", "--from", id, "--count", "1", "--json")
	if r.code != exitOK {
		t.Fatalf("tail --json of the replay:\n%s", r)
	}
	check("the replayed entry", decodeWithHeaders(t, []byte(r.stdout)))
}

// An entry without headers prints as it always did: no "headers" member,
// no header token, and dlq show has no headers section.
func TestHeaderlessOutputUnchanged(t *testing.T) {
	m := &redstream.Message{ID: "1-0", Stream: "s", Deliveries: 1, Fields: redstream.Fields("a", "1")}
	if got := string(jsonLine(m)); got != `{"id":"1-0","stream":"s","fields":[{"name":"a","value":"1"}],"deliveries":1}`+"\n" {
		t.Errorf("jsonLine = %s", got)
	}
	m.Headers = []redstream.Field{} // empty, not nil: still left out
	if got := string(jsonLine(m)); strings.Contains(got, "headers") {
		t.Errorf("jsonLine of empty headers = %s", got)
	}
	if got := string(textLine(m)); got != "1-0 a=1\n" {
		t.Errorf("textLine = %q", got)
	}
	var b bytes.Buffer
	if err := writeDeadLetter(&b, &redstream.DeadLetter{ID: "2-0", Fields: m.Fields}); err != nil || strings.Contains(b.String(), "headers") {
		t.Errorf("dlq show of a dead letter without headers:\n%s", b.String())
	}
	b.Reset()
	if err := writeScheduled(&b, "s", []redstream.ScheduledMessage{{ID: "x", Due: time.Now(), Fields: m.Fields}}); err != nil || strings.Contains(b.String(), "HEADERS") {
		t.Errorf("scheduled list without headers:\n%s", b.String())
	}
}

// FuzzParseJSONLineHeaders checks that any line with a headers member
// either fails cleanly or gives fields and named headers.
func FuzzParseJSONLineHeaders(f *testing.F) {
	for _, s := range []string{`{"headers":{"t":"1"},"a":"b"}`, `{"headers":[{"name":"t","value_base64":"/w=="}],"a":"b"}`, `{"headers":[{}],"a":1}`, `{"headers":null}`, `{"headers":[[]],"a":"b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		headers, fields, err := parseJSONLine([]byte(line), "headers")
		if err != nil {
			return
		}
		if len(fields) == 0 {
			t.Fatalf("parseJSONLine(%q) returned no fields and no error", line)
		}
		for _, h := range headers {
			if h.Name == "" {
				t.Fatalf("parseJSONLine(%q) returned a header without a name: %q", line, headers)
			}
		}
	})
}
