package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

func TestJSONLineAndTextLine(t *testing.T) {
	m := &redstream.Message{
		ID: "1-2", Stream: "s", Deliveries: 3,
		Fields: redstream.Fields("z", "1", "a", "x\"y", "z", "again", "nl", "a\nb", "uni", "é"),
	}
	got := string(jsonLine(m))
	want := `{"id":"1-2","stream":"s","fields":[{"name":"z","value":"1"},{"name":"a","value":"x\"y"},{"name":"z","value":"again"},{"name":"nl","value":"a\nb"},{"name":"uni","value":"é"}],"deliveries":3}` + "\n"
	if got != want {
		t.Errorf("jsonLine = %s, want %s", got, want)
	}
	if !json.Valid(bytes.TrimSpace([]byte(got))) {
		t.Errorf("jsonLine output is not valid JSON: %s", got)
	}
	got = string(textLine(m))
	want = `1-2 z=1 a="x\"y" z=again nl="a\nb" uni=é` + "\n"
	if got != want {
		t.Errorf("textLine = %q, want %q", got, want)
	}
}

// The CLI's JSON of an entry and of a dead letter is what encoding/json
// writes for the library's types, for values of valid UTF-8: one shape,
// whichever writes it.
func TestJSONIsEncodingJSONOfTheLibraryTypes(t *testing.T) {
	m := &redstream.Message{
		ID: "1700000000000-7", Stream: "tick<ets>", Deliveries: 2,
		Fields: redstream.Fields("a", "1", "a", "twice", "html", "<&>", "ctl", "\x00\b\f\x1f\x7f", "uni", "é\u2028\u2029"),
	}
	want, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonLine(m); string(got) != string(want)+"\n" {
		t.Errorf("jsonLine =\n%s\nencoding/json of the Message =\n%s", got, want)
	}
	d := &redstream.DeadLetter{
		ID: "5-0", OriginalID: "4-1", Stream: "s", Group: "g", Consumer: "c", Deliveries: 3,
		Error: "boom \"quoted\"\n", Time: time.Date(2024, 5, 1, 12, 0, 0, 123000000, time.UTC), Fields: m.Fields,
	}
	want, err = json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if got := deadLetterJSON(d); string(got) != string(want)+"\n" {
		t.Errorf("deadLetterJSON =\n%s\nencoding/json of the DeadLetter =\n%s", got, want)
	}
	if got := deadLetterJSON(&redstream.DeadLetter{ID: "1-0"}); !bytes.Contains(got, []byte(`"fields":[]`)) {
		t.Errorf("a dead letter without fields: %s, want \"fields\":[]", got)
	}
}

// appendJSONString writes what encoding/json writes, for valid UTF-8.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain text 123", `q"uote`, `back\slash`, "<&>", "tab\there", "\x00\x1f\x7f", "\b\f\n\r", "héllo", "\u2028x\u2029", "~!@#$%^*()_+{}|:?", "日本語"} {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", "<\u2028>", "é", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // appendJSONMember writes the others as base64
		}
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("appendJSONString(%q) = %s, want %s", s, got, want)
		}
	})
}

// wireEntry decodes a line of --json output, in either form of each
// member.
type wireEntry struct {
	ID           string      `json:"id"`
	Stream       *string     `json:"stream"`
	StreamBase64 []byte      `json:"stream_base64"`
	Fields       []wireField `json:"fields"`
	Deliveries   int         `json:"deliveries"`
}

type wireField struct {
	Name        *string `json:"name"`
	NameBase64  []byte  `json:"name_base64"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64"`
}

// either returns the one of s and b that is set, and fails if both or
// neither are.
func either(t *testing.T, what string, s *string, b []byte) string {
	t.Helper()
	if (s == nil) == (b == nil) {
		t.Fatalf("%s: want exactly one of the string and the _base64 form, got %v and %q", what, s, b)
	}
	if s != nil {
		return *s
	}
	return string(b)
}

// decodeEntry reads one line of --json output back into a Message.
func decodeEntry(t *testing.T, line []byte) redstream.Message {
	t.Helper()
	var w wireEntry
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("line %s: %v", line, err)
	}
	m := redstream.Message{ID: w.ID, Stream: either(t, "stream", w.Stream, w.StreamBase64), Deliveries: w.Deliveries}
	for _, f := range w.Fields {
		m.Fields = append(m.Fields, redstream.Field{
			Name:  either(t, "name", f.Name, f.NameBase64),
			Value: either(t, "value", f.Value, f.ValueBase64),
		})
	}
	return m
}

// binaryFields are values a producer may write that are not printable or
// not valid UTF-8.
var binaryFields = redstream.Fields("\xffname", "\x00\x01\xfe\xff", "tab", "a\tb", "nl", "line\nbreak", "uni", "é", "esc", "\x1b[2J", "plain", "ok")

// Text and JSON give back every byte of every name and value.
func TestBinaryValuesAreLossless(t *testing.T) {
	m := &redstream.Message{ID: "1-0", Stream: "bin\xffary", Deliveries: 1, Fields: binaryFields}
	line := jsonLine(m)
	if bytes.Contains(line, []byte("\ufffd")) || bytes.Contains(line, []byte(`\ufffd`)) || !json.Valid(line) {
		t.Fatalf("jsonLine is not valid JSON or replaced bytes: %s", line)
	}
	got := decodeEntry(t, line)
	if got.Stream != m.Stream || len(got.Fields) != len(m.Fields) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	for i := range m.Fields {
		if got.Fields[i] != m.Fields[i] {
			t.Errorf("field %d decoded as %q, want %q", i, got.Fields[i], m.Fields[i])
		}
	}
	if !bytes.Contains(line, []byte(`{"name":"plain","value":"ok"}`)) || !bytes.Contains(line, []byte(`"value":"é"`)) {
		t.Errorf("valid UTF-8 values are not plain JSON strings: %s", line)
	}

	text := string(textLine(m))
	if strings.ContainsAny(text[:len(text)-1], "\x00\x1b\n\t") || !utf8.ValidString(text) {
		t.Fatalf("textLine prints unprintable bytes raw: %q", text)
	}
	tokens := strings.Fields(strings.TrimSuffix(text, "\n"))[1:]
	for i, tok := range tokens {
		name, value := splitQuoted(t, tok)
		if name != m.Fields[i].Name || value != m.Fields[i].Value {
			t.Errorf("text token %s reads back as %q=%q, want %q=%q", tok, name, value, m.Fields[i].Name, m.Fields[i].Value)
		}
	}
}

func FuzzJSONLineIsLossless(f *testing.F) {
	f.Add("s", "n", "v")
	f.Add("\xff", "\x00", "\xfe\xff")
	f.Fuzz(func(t *testing.T, stream, name, value string) {
		m := &redstream.Message{ID: "1-0", Stream: stream, Fields: []redstream.Field{{Name: name, Value: value}}}
		got := decodeEntry(t, jsonLine(m))
		if got.Stream != stream || len(got.Fields) != 1 || got.Fields[0].Name != name || got.Fields[0].Value != value {
			t.Errorf("jsonLine of %q %q=%q decodes as %+v", stream, name, value, got)
		}
	})
}

// splitQuoted reads back a "name=value" token of a text line, unquoting
// either side that is quoted.
func splitQuoted(t *testing.T, tok string) (string, string) {
	t.Helper()
	var name, rest string
	if strings.HasPrefix(tok, `"`) {
		q, err := strconv.QuotedPrefix(tok)
		if err != nil {
			t.Fatalf("token %s: %v", tok, err)
		}
		name, _ = strconv.Unquote(q)
		rest = tok[len(q):]
	} else {
		var ok bool
		name, rest, ok = strings.Cut(tok, "=")
		if !ok {
			t.Fatalf("token %s has no =", tok)
		}
		rest = "=" + rest
	}
	value := strings.TrimPrefix(rest, "=")
	if strings.HasPrefix(value, `"`) {
		var err error
		if value, err = strconv.Unquote(value); err != nil {
			t.Fatalf("token %s: %v", tok, err)
		}
	}
	return name, value
}

func TestNameText(t *testing.T) {
	for in, want := range map[string]string{
		"tickets":   "tickets",
		"a b":       "a b",
		"é":         "é",
		"a\nb":      `"a\nb"`,
		"\xffx":     `"\xffx"`,
		"":          `""`,
		"bell\a":    `"bell\a"`,
		"\x1b[31mx": `"\x1b[31mx"`,
	} {
		if got := nameText(in); got != want {
			t.Errorf("nameText(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestCommandsPrintBinaryLosslessly runs consume, tail and dlq on entries
// whose names and values are not printable or not valid UTF-8, in a
// stream whose name holds a newline: every byte comes back from the text
// and the JSON, and no name reaches a message raw.
func TestCommandsPrintBinaryLosslessly(t *testing.T) {
	t.Parallel()
	srv := startRedis(t)
	c := client(t, srv.URL())
	url := srv.URL()
	const stream = "bin\nary"
	args := []string{"XADD", stream, "*"}
	for _, f := range binaryFields {
		args = append(args, f.Name, f.Value)
	}
	if err := do(t, c, args...).Error(); err != nil {
		t.Fatal(err)
	}
	deadArgs := append([]string{"XADD", stream + ":dead", "*"}, args[3:]...)
	if err := do(t, c, deadArgs...).Error(); err != nil {
		t.Fatal(err)
	}
	sameFields := func(what string, got []redstream.Field) {
		t.Helper()
		if len(got) != len(binaryFields) {
			t.Fatalf("%s: %d fields, want %d: %q", what, len(got), len(binaryFields), got)
		}
		for i := range got {
			if got[i] != binaryFields[i] {
				t.Errorf("%s: field %d is %q, want %q", what, i, got[i], binaryFields[i])
			}
		}
	}

	r := cli(t, nil, "consume", "--redis", url, "--stream", stream, "--group", "g", "--from", "0", "--max", "1", "--json")
	if r.code != exitOK {
		t.Fatalf("consume --json:\n%s", r)
	}
	m := decodeEntry(t, []byte(r.stdout))
	if m.Stream != stream {
		t.Errorf("consume --json: stream %q, want %q", m.Stream, stream)
	}
	sameFields("consume --json", m.Fields)
	if !strings.Contains(r.stderr, `consuming stream "bin\nary" in group g`) {
		t.Errorf("consume does not quote the stream's name in its messages:\n%s", r)
	}

	r = cli(t, nil, "consume", "--redis", url, "--stream", stream, "--group", "text", "--from", "0", "--max", "1")
	if r.code != exitOK {
		t.Fatalf("consume:\n%s", r)
	}
	var fields []redstream.Field
	for _, tok := range strings.Fields(strings.TrimSuffix(r.stdout, "\n"))[1:] {
		name, value := splitQuoted(t, tok)
		fields = append(fields, redstream.Field{Name: name, Value: value})
	}
	sameFields("consume text", fields)

	r = cli(t, nil, "tail", "--redis", url, "--stream", stream, "--from", "0", "--count", "1", "--json")
	if r.code != exitOK {
		t.Fatalf("tail --json:\n%s", r)
	}
	sameFields("tail --json", decodeEntry(t, []byte(r.stdout)).Fields)

	r = cli(t, nil, "dlq", "list", "--redis", url, "--stream", stream, "--json")
	if r.code != exitOK {
		t.Fatalf("dlq list --json:\n%s", r)
	}
	var d struct {
		Fields []wireField `json:"fields"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, r)
	}
	fields = fields[:0]
	for _, f := range d.Fields {
		fields = append(fields, redstream.Field{Name: either(t, "name", f.Name, f.NameBase64), Value: either(t, "value", f.Value, f.ValueBase64)})
	}
	sameFields("dlq list --json", fields)

	r = cli(t, nil, "dlq", "show", "--redis", url, "--stream", stream, deadID(t, c, stream+":dead"))
	if r.code != exitOK || strings.ContainsAny(r.stdout, "\x00\x1b") || !utf8.ValidString(r.stdout) || !strings.Contains(r.stdout, `"\x00\x01\xfe\xff"`) {
		t.Errorf("dlq show prints values raw:\n%q", r.stdout)
	}

	r = cli(t, nil, "info", "--redis", url, "--stream", "no\nsuch")
	if r.code != exitFailure {
		t.Fatalf("info of a missing stream: exit %d\n%s", r.code, r)
	}
	wantOneErrorLine(t, r, `stream "no\nsuch" does not exist`)
}

// deadID returns the ID of the first entry of the dead-letter stream key.
func deadID(t *testing.T, c rueidis.Client, key string) string {
	t.Helper()
	es := entries(t, c, key)
	if len(es) == 0 {
		t.Fatalf("%s is empty", key)
	}
	return es[0].ID
}

// consume's JSON writer appends into its reused buffer without
// allocating, for the common entry of valid UTF-8.
func TestAppendJSONLineDoesNotAllocate(t *testing.T) {
	m := &redstream.Message{ID: "1700000000000-0", Stream: "tickets", Deliveries: 1,
		Fields: redstream.Fields("whatHappened", "ticket received", "ticketID", "42", "note", "é <b>\n")}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendJSONLine(buf[:0], m) }); n != 0 {
		t.Errorf("appendJSONLine allocates %v times per entry", n)
	}
}

func BenchmarkAppendJSONLine(b *testing.B) {
	m := &redstream.Message{ID: "1700000000000-0", Stream: "tickets", Deliveries: 1,
		Fields: redstream.Fields("whatHappened", "ticket received", "ticketID", "42", "ticketData", strings.Repeat("some ticket data ", 6))}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendJSONLine(buf[:0], m)
	}
	b.SetBytes(int64(len(buf)))
}
