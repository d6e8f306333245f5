package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

const (
	// publishBatch is how many entries one PublishBatch call carries.
	publishBatch = 1000
	// publishBatchBytes also ends a batch read from stdin: the bytes of
	// JSON it was made of, so long lines do not pile up in memory.
	publishBatchBytes = 16 << 20
	// defaultMaxLine and maxMaxLine bound a line of JSON read from stdin:
	// by default, and with --max-line at most.
	defaultMaxLine = 1 << 20
	maxMaxLine     = 64 << 20
	// publishProgressMin is the entry count from which publish shows a
	// progress bar (on a terminal).
	publishProgressMin = 10000
	// seqPlaceholder in a field value becomes the entry's number, 1..N.
	seqPlaceholder = "{{seq}}"
)

func (a *app) publishCmd() *cobra.Command {
	var (
		stream, topic, key, keyField string
		msgID, headersMember         string
		headerArgs                   []string
		count, maxLine               int
		in                           time.Duration
		at                           string
	)
	cmd := &cobra.Command{
		Use:   "publish (--stream S | --topic T [--key K]) [--count N] [--msg-id ID] [--header name=value ...] [field=value ...]",
		Short: "Append entries to a stream, or events to a topic",
		Long: `publish appends entries to a stream (XADD), creating it if missing.

With field=value arguments it appends one entry with those fields in that
order, or N with --count N; "` + seqPlaceholder + `" in a value becomes the entry's
number, 1 to N. Without arguments it reads JSON objects from stdin, one per
line, and appends one entry per object: its keys in the order written,
string values as they are and other values as JSON text. A line is at most
--max-line bytes (default 1 MiB, at most 64 MiB); a longer line is not
read into memory, and must be valid UTF-8 (as JSON is): other bytes would
be changed in decoding. A malformed, too long or not UTF-8 line stops it
with exit code 1, naming the line, after publishing the lines before it.

Headers are metadata that travel with an entry apart from its fields, such
as the W3C "traceparent" of a trace; each is stored as the field
"` + redstream.HeaderPrefix + `<name>", before the fields, so redis-cli and other
languages read and write them too. --header name=value (repeatable) gives
every entry of the call that header, in the order given. An object read
from stdin may carry headers of its own in its member named by
--headers-member (default "headers"), written after those of --header:
either an object of names and values, {"traceparent":"00-..."}, or the
list that consume --json prints, [{"name":"traceparent","value":"00-..."}],
where "name_base64" and "value_base64" give bytes that are not UTF-8.
That member is not a field; with --headers-member '' it is a field like
any other member.

With --topic T instead of --stream it publishes events to the partitioned
topic T (see "redstream topic --help"; the topic must exist): each event
with key --key goes to the key's partition, stored as the event's first
field "` + redstream.KeyField + `", and the events of one key are consumed in the
order published. "` + seqPlaceholder + `" in --key becomes the event's number too, so
--key 'customer-` + seqPlaceholder + `' spreads events over keys. Events read from
stdin take their key from --key, or else from their member named by
--key-field (default "key"; it stays in the event's fields too); a line
without it stops publish like a malformed line. Events with an empty key
(field=value arguments without --key, or --key "") spread evenly over
the partitions, in no particular order.

With --msg-id ID (and field=value arguments) each entry carries a message
ID of the producer's choosing: an entry whose ID was published to the same
stream (or partition) within the last 10 minutes is not written again, so
a publish that failed midway can simply be run again. "` + seqPlaceholder + `" in the
ID becomes the entry's number, and with --count above 1 it must be there.

It prints the entry's ID when it appended one entry (for a topic, followed
by "partition <i>"; for an entry whose --msg-id was published before, the
first entry's ID followed by "duplicate"), a summary otherwise.

With --in D (such as 30s) or --at T (RFC 3339, such as
2026-12-24T18:00:00Z) the entries are scheduled instead: they wait in
Redis and the stream's consumers append them when due (about 100 ms
after). It then prints "scheduled <id> for <stream>" for one entry, the
ID to list or cancel it by (see "redstream scheduled --help"), a summary
otherwise. While no consumer of the stream runs, scheduled entries wait.`,
		Example: `  redstream publish --stream tickets whatHappened="ticket received" ticketID=42 ticketData="some ticket data"
  redstream publish --stream tickets --count 1000 'n={{seq}}'
  redstream publish --stream tickets --count 1000 --msg-id 'import-7-{{seq}}' 'n={{seq}}'
  printf '{"ticketID":"1"}\n{"ticketID":"2"}\n' | redstream publish --stream tickets
  redstream publish --stream tickets --header traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ticketID=42
  printf '{"headers":{"tenant":"acme"},"ticketID":"1"}\n' | redstream publish --stream tickets
  redstream publish --topic orders --key customer-7 whatHappened="order placed"
  printf '{"key":"customer-7","total":"12"}\n' | redstream publish --topic orders
  redstream publish --stream tickets --in 30s ticketID=42
  redstream publish --stream tickets --at 2026-12-24T18:00:00Z --count 10 'n={{seq}}'`,
		Args: cobra.ArbitraryArgs,
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			switch {
			case flags.Changed("stream") && flags.Changed("topic"):
				return usagef("give --stream S or --topic T, not both")
			case flags.Changed("topic"):
				if topic == "" {
					return usagef("--topic must not be empty")
				}
			case !flags.Changed("stream"):
				return usagef(`required flag(s) "stream" not set (or give --topic T)`)
			case stream == "":
				return usagef("--stream must not be empty")
			case flags.Changed("key") || flags.Changed("key-field"):
				return usagef("--key and --key-field need --topic")
			}
			if flags.Changed("key-field") && keyField == "" {
				return usagef("--key-field must not be empty")
			}
			if flags.Changed("msg-id") && msgID == "" {
				return usagef("--msg-id must not be empty")
			}
			if count > 1 && msgID != "" && !strings.Contains(msgID, seqPlaceholder) {
				return usagef("--msg-id with --count above 1 needs %s in it: otherwise every entry has the same ID and only the first is written", seqPlaceholder)
			}
			if err := checkRange("count", count, 1, maxPublishCount); err != nil {
				return err
			}
			if err := checkRange("max-line", maxLine, 1, maxMaxLine); err != nil {
				return err
			}
			var due time.Time
			switch {
			case flags.Changed("in") && flags.Changed("at"):
				return usagef("give --in D or --at T, not both")
			case msgID != "" && (flags.Changed("in") || flags.Changed("at")):
				return usagef("--msg-id cannot be combined with --in or --at: scheduled entries are not de-duplicated")
			case flags.Changed("in") && (in < 0 || in > maxScheduleAhead):
				return usagef("--in must be between 0s and %v, got %v", maxScheduleAhead, in)
			case flags.Changed("at"):
				t, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					return usagef("--at %q is not an RFC 3339 time such as 2026-12-24T18:00:00Z", at)
				}
				if t.Unix() < 0 || t.After(time.Now().Add(maxScheduleAhead)) {
					return usagef("--at must be after 1970 and within %v from now, got %s", maxScheduleAhead, at)
				}
				due = t
			}
			headers, err := parseHeaderArgs(headerArgs)
			if err != nil {
				return err
			}
			fields, err := parseFieldArgs(args)
			if err != nil {
				return err
			}
			if len(fields) == 0 {
				if cmd.Flags().Changed("count") {
					return usagef("--count needs field=value arguments")
				}
				if msgID != "" {
					return usagef("--msg-id needs field=value arguments")
				}
				if a.stdin == nil || isTerminal(a.stdin) {
					return usagef("no fields: give field=value arguments, or pipe JSON objects (one per line) to stdin")
				}
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			pub, err := redstream.NewPublisher(client)
			if err != nil {
				return err
			}
			p := &publishRun{app: a, ctx: cmd.Context(), pub: pub, stream: stream, key: key, msgID: msgID,
				headers: headers, headersMember: headersMember,
				scheduled: flags.Changed("in") || flags.Changed("at"), in: in, at: due}
			if topic != "" {
				if p.topic, err = redstream.OpenTopic(cmd.Context(), client, topic); err != nil {
					if isInvalid(err) {
						return &usageError{err: err}
					}
					return topicErr(err, topic)
				}
				if !flags.Changed("key") {
					p.keyField = keyField
				}
			}
			if len(fields) > 0 {
				err = p.fromArgs(fields, count)
			} else {
				err = p.fromJSONLines(a.stdin, maxLine)
			}
			if err != nil {
				return err
			}
			dup := ""
			if p.lastDuplicate {
				dup = " duplicate"
			}
			dups := ""
			if p.duplicates > 0 {
				dups = fmt.Sprintf(" (%d already published, not written again)", p.duplicates)
			}
			switch {
			case p.scheduled && p.published == 1 && p.topic != nil:
				fmt.Fprintf(a.stdout, "scheduled %s for partition %d (%s)\n", p.lastID, p.lastPartition, nameText(p.topic.Stream(p.lastPartition)))
			case p.scheduled && p.published == 1:
				fmt.Fprintf(a.stdout, "scheduled %s for %s\n", p.lastID, nameText(p.stream))
			case p.scheduled && p.topic != nil:
				fmt.Fprintf(a.stdout, "scheduled %d events for %s\n", p.published, p.dest())
			case p.scheduled:
				fmt.Fprintf(a.stdout, "scheduled %d entries for %s\n", p.published, p.dest())
			case p.published+p.duplicates == 1 && p.topic != nil:
				fmt.Fprintf(a.stdout, "%s partition %d%s\n", p.lastID, p.lastPartition, dup)
			case p.published+p.duplicates == 1:
				fmt.Fprintf(a.stdout, "%s%s\n", p.lastID, dup)
			case p.topic != nil:
				fmt.Fprintf(a.stdout, "published %d events to %s%s\n", p.published, p.dest(), dups)
			default:
				fmt.Fprintf(a.stdout, "published %d entries to %s%s\n", p.published, p.dest(), dups)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&stream, "stream", "", "the stream to append to (this or --topic is required)")
	cmd.Flags().StringVar(&topic, "topic", "", "the topic to publish events to, instead of a stream")
	cmd.Flags().StringVar(&key, "key", "", "the events' key (with --topic): it picks the partition and keeps the key's events in order")
	cmd.Flags().StringVar(&keyField, "key-field", "key", "with --topic and no --key: the member of each stdin JSON object that holds the event's key")
	cmd.Flags().IntVar(&maxLine, "max-line", defaultMaxLine, "the longest line of JSON read from stdin, in bytes (1 to 67108864)")
	cmd.Flags().IntVar(&count, "count", 1, "how many entries to append with the given fields (1 to 100000000)")
	cmd.Flags().StringVar(&msgID, "msg-id", "", "the entries' message ID ({{seq}} becomes the entry's number): one published within 10 minutes is not written again")
	cmd.Flags().DurationVar(&in, "in", 0, "schedule the entries to be appended this long from now (such as 30s), instead of now")
	cmd.Flags().StringVar(&at, "at", "", "schedule the entries to be appended at this RFC 3339 time (such as 2026-12-24T18:00:00Z)")
	cmd.Flags().StringArrayVar(&headerArgs, "header", nil, "a header name=value that every entry carries apart from its fields (repeatable)")
	cmd.Flags().StringVar(&headersMember, "headers-member", "headers", `the member of each stdin JSON object that holds the entry's headers ("": none, every member is a field)`)
	return cmd
}

// parseFieldArgs turns field=value arguments into fields, in order.
func parseFieldArgs(args []string) ([]redstream.Field, error) {
	fields := make([]redstream.Field, 0, len(args))
	for _, arg := range args {
		name, value, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return nil, usagef("argument %q is not field=value", arg)
		}
		fields = append(fields, redstream.Field{Name: name, Value: value})
	}
	return fields, nil
}

// parseHeaderArgs turns --header name=value flags into headers, in order.
func parseHeaderArgs(args []string) ([]redstream.Field, error) {
	var headers []redstream.Field
	for _, arg := range args {
		name, value, ok := strings.Cut(arg, "=")
		if !ok || name == "" {
			return nil, usagef("--header %q is not name=value with a name that is not empty", arg)
		}
		headers = append(headers, redstream.Field{Name: name, Value: value})
	}
	return headers, nil
}

// publishRun is one publish command at work: to a stream, or to a topic.
type publishRun struct {
	*app
	ctx      context.Context
	pub      *redstream.Publisher
	stream   string
	topic    *redstream.Topic // nil: publishing to stream
	key      string           // the events' key (topic); may hold {{seq}}
	keyField string           // the JSON member holding a line's key, when there is no --key
	msgID    string           // the entries' message ID; may hold {{seq}}

	headers       []redstream.Field // --header: every entry's, before its own
	headersMember string            // the JSON member holding a line's headers; "" for none

	scheduled bool // --in or --at: schedule instead of appending
	in        time.Duration
	at        time.Time // when set, the due time; else in from now

	published     int    // entries written so far
	duplicates    int    // entries not written: their msgID was published before
	lastID        string // ID of the last entry written (or found as a duplicate)
	lastPartition int    // and its partition (topic)
	lastDuplicate bool   // the last entry was a duplicate
}

// dest names where the entries go, for messages.
func (p *publishRun) dest() string {
	if p.topic != nil {
		return "topic " + nameText(p.topic.Name)
	}
	return nameText(p.stream)
}

// send publishes events (their keys count only for a topic) and counts
// those written. On an error it says how many of the run's entries were
// written before.
func (p *publishRun) send(events []redstream.KeyedEntry) error {
	if len(events) == 0 {
		return nil
	}
	var (
		ids   []string
		dup   []bool
		parts []int
		err   error
	)
	if p.scheduled {
		ids, parts, err = p.schedule(events)
		dup = make([]bool, len(ids)) // scheduled entries are never duplicates
	} else if p.topic != nil {
		var receipts []redstream.TopicReceipt
		receipts, err = p.pub.PublishTopic(p.ctx, p.topic, events...)
		for _, r := range receipts {
			ids, dup, parts = append(ids, r.ID), append(dup, r.Duplicate), append(parts, r.Partition)
		}
	} else {
		entries := make([]redstream.Entry, len(events))
		for i, e := range events {
			entries[i] = redstream.Entry{Stream: p.stream, Fields: e.Fields, Headers: e.Headers, MsgID: e.MsgID}
		}
		var receipts []redstream.Receipt
		receipts, err = p.pub.PublishEntries(p.ctx, entries)
		for _, r := range receipts {
			ids, dup = append(ids, r.ID), append(dup, r.Duplicate)
		}
	}
	for i, id := range ids {
		if id != "" {
			if dup[i] {
				p.duplicates++
			} else {
				p.published++
			}
			p.lastID, p.lastDuplicate = id, dup[i]
			if parts != nil {
				p.lastPartition = parts[i]
			}
		}
	}
	if err != nil {
		var be *redstream.BatchError
		if errors.As(err, &be) {
			if errs := be.Unwrap(); len(errs) > 0 {
				err = errs[0] // the first failure says why
			}
		}
		msg := describe(err, p.stream).Error()
		if p.topic != nil {
			msg = topicErr(err, p.topic.Name).Error()
		}
		if p.published > 0 {
			msg += fmt.Sprintf(" (published %s to %s before)", plural(int64(p.published), "entry", "entries"), p.dest())
		}
		return &cliError{msg: msg, err: err}
	}
	return nil
}

// schedule schedules events for --in or --at.
func (p *publishRun) schedule(events []redstream.KeyedEntry) (ids []string, parts []int, err error) {
	if p.topic != nil {
		var receipts []redstream.TopicReceipt
		if p.at.IsZero() {
			receipts, err = p.pub.PublishTopicIn(p.ctx, p.topic, p.in, events...)
		} else {
			receipts, err = p.pub.PublishTopicAt(p.ctx, p.topic, p.at, events...)
		}
		for _, r := range receipts {
			ids, parts = append(ids, r.ID), append(parts, r.Partition)
		}
		return ids, parts, err
	}
	entries := make([]redstream.ScheduledEntry, len(events))
	for i, e := range events {
		entries[i] = redstream.ScheduledEntry{Stream: p.stream, Fields: e.Fields, Headers: e.Headers, At: p.at, In: p.in}
	}
	ids, err = p.pub.PublishBatchAt(p.ctx, entries)
	return ids, nil, err
}

// maxScheduleAhead bounds --in and --at as the library does.
const maxScheduleAhead = 10 * 365 * 24 * time.Hour

// fromArgs publishes count entries with fields, numbering {{seq}}.
func (p *publishRun) fromArgs(fields []redstream.Field, count int) error {
	var prog *progress
	if count >= publishProgressMin && p.outTTY {
		prog = startProgress(p.stdout, true, "entries", int64(count), time.Now())
		defer prog.Finish()
	}
	hasSeq := false
	for _, f := range fields {
		hasSeq = hasSeq || strings.Contains(f.Value, seqPlaceholder)
	}
	batch := make([]redstream.KeyedEntry, 0, min(count, publishBatch))
	for seq := 1; seq <= count; seq++ {
		fs := fields
		n := strconv.Itoa(seq)
		if hasSeq {
			fs = make([]redstream.Field, len(fields))
			for i, f := range fields {
				fs[i] = redstream.Field{Name: f.Name, Value: strings.ReplaceAll(f.Value, seqPlaceholder, n)}
			}
		}
		batch = append(batch, redstream.KeyedEntry{Key: strings.ReplaceAll(p.key, seqPlaceholder, n), Fields: fs, Headers: p.headers, MsgID: strings.ReplaceAll(p.msgID, seqPlaceholder, n)})
		if len(batch) == publishBatch || seq == count {
			if err := p.send(batch); err != nil {
				return err
			}
			batch = batch[:0]
			if prog != nil {
				prog.Set(int64(p.published + p.duplicates))
			}
		}
	}
	return nil
}

// fromJSONLines publishes one entry per JSON object read from r. Blank
// lines are skipped. A malformed line, or one longer than maxLine bytes,
// stops it after publishing the lines before it; of a long line no more
// than maxLine bytes are held.
func (p *publishRun) fromJSONLines(r io.Reader, maxLine int) error {
	br := bufio.NewReaderSize(r, 64<<10)
	batch := make([]redstream.KeyedEntry, 0, publishBatch)
	batchBytes := 0
	var line []byte
	for lineNo := 1; ; lineNo++ {
		var readErr error
		line, readErr = readLine(br, line[:0], maxLine)
		if errors.Is(readErr, errLineTooLong) {
			if err := p.send(batch); err != nil {
				return err
			}
			return fmt.Errorf("stdin line %d is longer than %d bytes, the --max-line bound (published %s to %s before it)", lineNo, maxLine, plural(int64(p.published), "entry", "entries"), p.dest())
		}
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			if err := p.send(batch); err != nil {
				return err
			}
			return fmt.Errorf("read stdin: %w (published %s to %s before)", readErr, plural(int64(p.published), "entry", "entries"), p.dest())
		}
		if len(bytes.TrimSpace(line)) > 0 {
			headers, fields, err := parseJSONLine(line, p.headersMember)
			key := p.key
			if err == nil && p.keyField != "" {
				key, err = keyOf(fields, p.keyField)
			}
			var se *json.SyntaxError
			if errors.As(err, &se) {
				err = fmt.Errorf("%w at column %d", err, se.Offset)
			}
			if err != nil {
				if serr := p.send(batch); serr != nil {
					return serr
				}
				return fmt.Errorf("stdin line %d: %w (published %s to %s before it)", lineNo, err, plural(int64(p.published), "entry", "entries"), p.dest())
			}
			if len(p.headers) > 0 {
				headers = append(p.headers[:len(p.headers):len(p.headers)], headers...)
			}
			batch = append(batch, redstream.KeyedEntry{Key: key, Fields: fields, Headers: headers})
			batchBytes += len(line)
			if len(batch) == publishBatch || batchBytes >= publishBatchBytes {
				if err := p.send(batch); err != nil {
					return err
				}
				clear(batch) // let the sent fields go
				batch, batchBytes = batch[:0], 0
			}
		}
		if readErr != nil { // io.EOF
			break
		}
	}
	if err := p.send(batch); err != nil {
		return err
	}
	if p.published == 0 {
		return errors.New("nothing to publish: stdin held no JSON objects")
	}
	return nil
}

// keyOf returns the value of the field name, the key of an event read
// from stdin.
func keyOf(fields []redstream.Field, name string) (string, error) {
	for _, f := range fields {
		if f.Name == name {
			return f.Value, nil
		}
	}
	return "", fmt.Errorf("the object has no member %q to key the event by (--key-field names another, --key gives every event one key)", name)
}

// errLineTooLong reports a line of stdin longer than the bound.
var errLineTooLong = errors.New("line too long")

// readLine appends to buf the next line of br, its newline included, and
// returns it. A line longer than max bytes is not held: it returns
// errLineTooLong as soon as max bytes have been read. At the end of the
// input it returns what is left with io.EOF.
func readLine(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max+1 || len(buf)+len(frag) > max && frag[len(frag)-1] != '\n' {
			return buf, errLineTooLong
		}
		buf = append(buf, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}
