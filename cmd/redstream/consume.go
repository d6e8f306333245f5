package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamprom"
)

// consumeBatch is how many entries consume reads and prints at once by
// default: twice the library's DefaultBatchSize, because printing to a
// file or a pipe is all it does with them. Draining a backlog to a file,
// reads of 2000 took 10-20% less time than reads of 1000 here, with the
// same work per entry on the server (fewer round trips, each still well
// under a millisecond).
const consumeBatch = 2 * redstream.DefaultBatchSize

// checkConsumeFlags checks the flags consume shares between streams and
// topics, and returns how many entries to take at once: --concurrency,
// but no more than --max.
func checkConsumeFlags(group, from, metricsAddr string, concurrency, max int) (int, error) {
	switch {
	case group == "":
		return 0, usagef("--group must not be empty")
	case max < 0:
		return 0, usagef("--max must not be negative, got %d", max)
	}
	if err := checkRange("concurrency", concurrency, 1, maxConcurrency); err != nil {
		return 0, err
	}
	if err := checkMetricsAddr(metricsAddr); err != nil {
		return 0, err
	}
	if _, err := redstream.ParseID(from); err != nil && from != "$" {
		return 0, usagef("--from must be 0, $ or an entry ID such as 1700000000000-0, got %q", from)
	}
	if max > 0 {
		concurrency = min(concurrency, max) // take no more than --max at once
	}
	return concurrency, nil
}

// maxGate ends a consume after --max entries: the max-th one taken stops
// reading (gracefully: what is in hand finishes), and those taken after
// it are not handled, so they stay pending, each counted once however
// often it comes back.
type maxGate struct {
	max      int64 // 0: no limit
	stop     func()
	taken    atomic.Int64
	overMax  sync.Map // stream+" "+ID of entries taken after --max
	leftOver atomic.Int64
}

// take reports whether m may be handled.
func (g *maxGate) take(m *redstream.Message) bool {
	if g.max <= 0 {
		return true
	}
	n := g.taken.Add(1)
	if n > g.max {
		if _, seen := g.overMax.LoadOrStore(m.Stream+" "+m.ID, true); !seen {
			g.leftOver.Add(1)
		}
		return false
	}
	if n == g.max {
		g.stop()
	}
	return true
}

// leftNote says how many entries (one, many: their noun) were left
// pending, or nothing when none were.
func (g *maxGate) leftNote(one, many string) string {
	left := g.leftOver.Load()
	if left == 0 {
		return ""
	}
	verb := "stay"
	if left == 1 {
		verb = "stays"
	}
	return fmt.Sprintf("; %s it read %s pending for it", plural(left, one, many), verb)
}

// errOverMax is what the handler returns for entries read after --max was
// reached: they stay pending for this consumer instead of being dropped.
var errOverMax = errors.New("--max reached: entry left pending")

func (a *app) consumeCmd() *cobra.Command {
	var (
		stream, group, name, from string
		metricsAddr               string
		concurrency, max          int
		asJSON                    bool
	)
	cmd := &cobra.Command{
		Use:   "consume (--stream S | --topic T) --group G [--consumer NAME] [--from 0|$] [--json]",
		Short: "Read a stream as a member of a consumer group, print and acknowledge each entry",
		Long: `consume joins consumer group G of stream S (creating both if missing), prints
each entry it is delivered and acknowledges it, until SIGINT or SIGTERM.
Then it stops reading, lets the entries in hand finish and acknowledges
them before it exits.

A group created now starts at --from: by default 0, the beginning of the
stream, so entries published before the first consume are delivered too;
--from '$' delivers only entries added from now on, and says on stderr how
many existing entries it leaves out. An existing group keeps its position.

Text lines are "<id> field=value field=value ..."; a name or value is
quoted, Go style (%q), when it is empty, holds spaces, quotes, "=" or
backslashes, or is not printable, valid UTF-8: invalid bytes show as \xNN,
and unquoting gives back the exact bytes. An entry's headers (publish
--header) come before its fields, named as the entry stores them:
"<id> ` + redstream.HeaderPrefix + `traceparent=00-... field=value ...". No
field has a name that starts with "` + redstream.HeaderPrefix + `": such a field is
a header.
--json prints one object per line:
  {"id":"...","stream":"...","fields":[{"name":"...","value":"..."},...],"deliveries":1}
where "fields" lists the entry's fields in their order (a name the producer
wrote twice appears twice). An entry with headers also has
"headers":[{"name":"traceparent","value":"..."},...] after "fields", the
names without the prefix; it is left out when there are none. A name,
value or stream that is not valid UTF-8 is written instead as
"name_base64", "value_base64" or "stream_base64": the standard base64 of
its bytes.

Entries are read and printed up to --concurrency at a time, with one write
each time, in stream order (an entry delivered again, after a failed write,
comes later).

The consumer name defaults to <hostname>-<pid>-1, new for every run. Give
a stable --consumer NAME to resume, after a crash, the entries that name
was delivered but had not acknowledged.

With --topic T instead of --stream, it consumes the partitioned topic T in
group G (see "redstream topic --help"): the group's consumers divide the
partitions among themselves, each key's events are printed one at a time
in publish order, and different keys up to --concurrency at once (their
lines interleave). --from applies to the partitions' groups created now
(default 0: the whole topic).`,
		Example: "  redstream consume --stream tickets --group tickets-consumer-group\n" +
			"  redstream consume --stream tickets --group audit --from 0 --json",
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("topic") {
				return a.consumeTopic(cmd) // topicconsume.go
			}
			switch {
			case !cmd.Flags().Changed("stream"):
				return usagef(`required flag(s) "stream" not set (or give --topic T)`)
			case stream == "":
				return usagef("--stream must not be empty")
			}
			concurrency, err := checkConsumeFlags(group, from, metricsAddr, concurrency, max)
			if err != nil {
				return err
			}
			opts := []redstream.ConsumerOption{
				// One batch at a time, of up to --concurrency entries: the
				// entries in hand at once, printed in stream order.
				redstream.Concurrency(1),
				redstream.BatchSize(concurrency),
				redstream.StartID(from),
				// Printing an entry cannot fail because of the entry: never
				// move one to the dead-letter stream, whatever its history.
				redstream.MaxDeliveries(0),
				// Should one ever go there, it goes where the other
				// commands look: "<stream>" + --dead-suffix.
				redstream.DeadLetterSuffix(a.deadSuffix),
				// --log-format, --log-level (default: warnings and errors).
				redstream.WithLogger(a.log()),
			}
			if cmd.Flags().Changed("consumer") {
				opts = append(opts, redstream.Name(name))
			}
			ctx, stop := context.WithCancel(cmd.Context())
			defer stop()

			gate := &maxGate{max: int64(max), stop: stop}
			// One write per batch: the entries of one read, in stream order.
			var out []byte
			handler := redstream.BatchHandlerFunc(func(_ context.Context, msgs []*redstream.Message) error {
				var failed redstream.MessageErrors
				out = out[:0]
				for _, m := range msgs {
					if !gate.take(m) {
						failed.Fail(m, errOverMax)
						continue
					}
					if asJSON {
						out = appendJSONLine(out, m)
					} else {
						out = appendTextLine(out, m)
					}
				}
				if _, err := a.stdout.Write(out); err != nil {
					return fmt.Errorf("write output: %w", err) // not printed: leave them pending
				}
				return failed.Err()
			})
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			if metricsAddr != "" {
				m, err := redstreamprom.NewMetrics()
				if err != nil {
					return err
				}
				srv, err := a.serveMetrics(metricsAddr, client, m, stream)
				if err != nil {
					return err
				}
				defer srv.Stop()
				opts = append(opts, redstream.WithMetrics(m))
			}
			cons, err := redstream.NewBatchConsumer(client, stream, group, handler, opts...)
			if err != nil {
				return err // an invalid option: exit code 2
			}
			fmt.Fprintf(a.stderr, "consuming stream %s in group %s as consumer %s; Ctrl-C stops\n", nameText(stream), nameText(group), nameText(cons.Name()))
			runErr := cons.Run(ctx)
			st := cons.Stats()
			if runErr != nil {
				return describe(runErr, stream)
			}
			fmt.Fprintf(a.stderr, "stopped: consumer %s handled and acknowledged %d entries%s\n",
				nameText(cons.Name()), st.Acked, gate.leftNote("entry", "entries"))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the stream to read (this or --topic is required)")
	f.StringVar(&group, "group", "", "the consumer group to read as (required)")
	f.StringVar(&name, "consumer", "", "the consumer's name in the group (default <hostname>-<pid>-1)")
	f.IntVar(&concurrency, "concurrency", consumeBatch, "how many entries are read and printed at once (1 to 10000)")
	f.StringVar(&from, "from", "0", "where a group created now starts: 0 (the whole stream), $ (new entries only) or an entry ID; an existing group keeps its position")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per entry (see above)")
	f.IntVar(&max, "max", 0, "stop after handling this many entries (0: no limit)")
	f.StringVar(&metricsAddr, "metrics-addr", "", metricsAddrUsage)
	_ = f.MarkHidden("max")
	addTopicConsumeFlags(cmd)
	_ = cmd.MarkFlagRequired("group")
	return cmd
}

// plural formats "1 entry", "2 entries".
func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.FormatInt(n, 10) + " " + many
}
