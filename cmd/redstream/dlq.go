package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// dlqCmd groups the dead-letter tools: list, show, replay, purge.
func (a *app) dlqCmd() *cobra.Command {
	var stream, dead string
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, show, replay and purge a stream's dead letters",
		Long: `dlq works on the dead-letter stream of --stream: --dead if given, else
"<stream>:dead", or "<stream><suffix>" with --dead-suffix. Consumers move
there the entries that failed MaxDeliveries times, failed with a permanent
error, or could not be decoded. Each dead letter keeps the original
entry's fields and headers and says where it came from and why it failed.

replay re-publishes dead letters to their stream as new entries and removes
them from the dead-letter stream, each in one atomic step.

list --json and show --json print one object per dead letter:
  {"id":"...","original_id":"...","stream":"...","group":"...","consumer":"...",
   "deliveries":5,"error":"...","time":"2024-05-01T12:00:00Z",
   "fields":[{"name":"...","value":"..."},...],"headers":[...]}
with the fields and headers as consume --json prints them ("headers" left
out when the entry had none), and a member that is not valid UTF-8 written
as "<member>_base64" (the base64 of its bytes). The text of show lists the
headers, if any, apart from the fields, and quotes, Go style, a name or
value that is not printable.

IDs (--id, --from, --to, show's argument) are entry IDs such as
1700000000000-0; --from and --to also take - and + (the first and last).`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&stream, "stream", "", "the stream whose dead letters to work on (required)")
	cmd.PersistentFlags().StringVar(&dead, "dead", "", `the dead-letter stream (default "<stream>" + --dead-suffix)`)
	_ = cmd.MarkPersistentFlagRequired("stream")

	open := func(c *cobra.Command) (*redstream.DeadLetterQueue, func(), error) {
		if stream == "" {
			return nil, nil, usagef("--stream must not be empty")
		}
		client, err := a.connect(c)
		if err != nil {
			return nil, nil, err
		}
		key := dead
		if key == "" {
			key = stream + a.deadSuffix
		}
		q, err := redstream.NewDeadLetterQueue(client, stream, key)
		if err != nil {
			client.Close()
			return nil, nil, err
		}
		return q, client.Close, nil
	}

	var (
		count    int64
		from, to string
		asJSON   bool
	)
	list := &cobra.Command{
		Use:     "list --stream S [--from ID] [--to ID] [--count N] [--json]",
		Short:   "List dead letters, oldest first",
		Example: "  redstream dlq list --stream tickets\n  redstream dlq list --stream tickets --json --count 1000",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if err := checkRange("count", count, 1, maxListCount); err != nil {
				return err
			}
			if err := checkIDFlag("from", from, "-", "+"); err != nil {
				return err
			}
			if err := checkIDFlag("to", to, "-", "+"); err != nil {
				return err
			}
			q, done, err := open(c)
			if err != nil {
				return err
			}
			defer done()
			letters, err := q.List(c.Context(), from, to, count)
			if err != nil {
				return describe(err, q.Key())
			}
			if asJSON {
				return writeJSONLines(a.stdout, letters)
			}
			total, err := q.Len(c.Context())
			if err != nil {
				return describe(err, q.Key())
			}
			return writeDeadLetters(a.stdout, q.Key(), total, letters)
		}),
	}
	list.Flags().StringVar(&from, "from", "-", "first dead-letter ID to list")
	list.Flags().StringVar(&to, "to", "+", "last dead-letter ID to list")
	list.Flags().Int64Var(&count, "count", 100, "the most dead letters to list (1 to 100000)")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per dead letter")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show --stream S ID [--json]",
		Short: "Show one dead letter with all its fields",
		Args:  cobra.ExactArgs(1),
		RunE: a.runE(func(c *cobra.Command, args []string) error {
			if _, err := redstream.ParseID(args[0]); err != nil {
				return usagef("%q is not an entry ID (like 1700000000000-0)", args[0])
			}
			q, done, err := open(c)
			if err != nil {
				return err
			}
			defer done()
			d, err := q.Get(c.Context(), args[0])
			if err != nil {
				if isNoEntry(err) {
					return &cliError{msg: fmt.Sprintf("no dead letter %s in %s", args[0], nameText(q.Key())), err: err}
				}
				return describe(err, q.Key())
			}
			if showJSON {
				return writeJSONLines(a.stdout, []redstream.DeadLetter{*d})
			}
			return writeDeadLetter(a.stdout, d)
		}),
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print the dead letter as JSON")

	var (
		ids        []string
		all        bool
		rFrom, rTo string
	)
	replay := &cobra.Command{
		Use:   "replay --stream S (--id ID ... | --from ID --to ID | --all)",
		Short: "Move dead letters back to their stream",
		Example: "  redstream dlq replay --stream tickets --id 1700000000000-0\n" +
			"  redstream dlq replay --stream tickets --from 1700000000000-0 --to 1700000999999-0\n" +
			"  redstream dlq replay --stream tickets --all",
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			ranged := c.Flags().Changed("from") || c.Flags().Changed("to")
			if n := btoi(len(ids) > 0) + btoi(ranged) + btoi(all); n != 1 {
				return usagef("say which dead letters to replay: --id, --from/--to, or --all (one of them)")
			}
			for _, id := range ids {
				if err := checkIDFlag("id", id); err != nil {
					return err
				}
			}
			if err := checkIDFlag("from", rFrom, "-", "+"); err != nil {
				return err
			}
			if err := checkIDFlag("to", rTo, "-", "+"); err != nil {
				return err
			}
			q, done, err := open(c)
			if err != nil {
				return err
			}
			defer done()
			start := time.Now()
			var n int
			if len(ids) > 0 {
				n, err = q.Replay(c.Context(), ids...)
			} else {
				if all {
					rFrom, rTo = "-", "+"
				}
				total, lerr := q.Len(c.Context())
				if lerr != nil {
					return describe(lerr, q.Key())
				}
				var bar *progress
				if a.outTTY && total > 0 {
					bar = startProgress(a.stdout, true, "dead letters", total, start)
				}
				n, err = q.ReplayRange(c.Context(), rFrom, rTo, func(done int) {
					if bar != nil {
						bar.Set(int64(done))
					}
				})
				if bar != nil {
					bar.Finish()
				}
			}
			fmt.Fprintf(a.stdout, "replayed %d dead letters from %s to %s\n", n, nameText(q.Key()), nameText(stream))
			return describe(err, q.Key())
		}),
	}
	replay.Flags().StringSliceVar(&ids, "id", nil, "a dead-letter ID to replay (repeatable)")
	replay.Flags().StringVar(&rFrom, "from", "-", "first dead-letter ID of a range to replay")
	replay.Flags().StringVar(&rTo, "to", "+", "last dead-letter ID of a range to replay")
	replay.Flags().BoolVar(&all, "all", false, "replay every dead letter")

	var (
		purgeIDs []string
		purgeAll bool
		yes      bool
	)
	purge := &cobra.Command{
		Use:   "purge --stream S (--id ID ... | --all --yes)",
		Short: "Delete dead letters for good",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if (len(purgeIDs) > 0) == purgeAll {
				return usagef("say which dead letters to purge: --id ID ... or --all")
			}
			if purgeAll && !yes {
				return usagef("purge --all deletes every dead letter for good; add --yes to do it")
			}
			for _, id := range purgeIDs {
				if err := checkIDFlag("id", id); err != nil {
					return err
				}
			}
			q, done, err := open(c)
			if err != nil {
				return err
			}
			defer done()
			var n int64
			if purgeAll {
				n, err = q.PurgeAll(c.Context())
			} else {
				n, err = q.Purge(c.Context(), purgeIDs...)
			}
			if err != nil {
				return describe(err, q.Key())
			}
			fmt.Fprintf(a.stdout, "purged %d dead letters from %s\n", n, nameText(q.Key()))
			return nil
		}),
	}
	purge.Flags().StringSliceVar(&purgeIDs, "id", nil, "a dead-letter ID to delete (repeatable)")
	purge.Flags().BoolVar(&purgeAll, "all", false, "delete every dead letter")
	purge.Flags().BoolVar(&yes, "yes", false, "confirm --all")

	subcommands(cmd)
	cmd.AddCommand(list, show, replay, purge)
	return cmd
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func isNoEntry(err error) bool { return errors.Is(err, redstream.ErrNoEntry) }

// writeJSONLines prints one JSON object per dead letter (deadLetterJSON).
func writeJSONLines(w io.Writer, letters []redstream.DeadLetter) error {
	var b []byte
	for i := range letters {
		b = append(b, deadLetterJSON(&letters[i])...)
	}
	_, err := w.Write(b)
	return err
}

func writeDeadLetters(w io.Writer, key string, total int64, letters []redstream.DeadLetter) error {
	fmt.Fprintf(w, "%s: %d dead letters\n", nameText(key), total)
	if len(letters) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tORIGINAL ID\tDELIVERIES\tCONSUMER\tAGE\tERROR")
	for _, d := range letters {
		age := "-"
		if !d.Time.IsZero() {
			age = roundDuration(time.Since(d.Time)).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", d.ID, orNone(d.OriginalID), d.Deliveries, orNone(d.Consumer), age, oneLineText(d.Error, 80))
	}
	return tw.Flush()
}

func writeDeadLetter(w io.Writer, d *redstream.DeadLetter) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%s\n", d.ID)
	fmt.Fprintf(tw, "original id\t%s\n", orNone(d.OriginalID))
	fmt.Fprintf(tw, "stream\t%s\n", orNone(d.Stream))
	fmt.Fprintf(tw, "group\t%s\n", orNone(d.Group))
	fmt.Fprintf(tw, "consumer\t%s\n", orNone(d.Consumer))
	fmt.Fprintf(tw, "deliveries\t%d\n", d.Deliveries)
	if !d.Time.IsZero() {
		fmt.Fprintf(tw, "time\t%s\n", d.Time.Format(time.RFC3339Nano))
	}
	fmt.Fprintf(tw, "error\t%s\n", valueText(d.Error)) // whole: a panic's stack spans lines
	if len(d.Headers) > 0 {
		fmt.Fprintln(tw, "headers")
		for _, h := range d.Headers {
			fmt.Fprintf(tw, "  %s\t%s\n", nameText(h.Name), valueText(h.Value))
		}
	}
	fmt.Fprintln(tw, "fields")
	for _, f := range d.Fields {
		fmt.Fprintf(tw, "  %s\t%s\n", nameText(f.Name), valueText(f.Value))
	}
	return tw.Flush()
}

// oneLineText folds whitespace, quotes what is left unprintable (see
// nameText) and cuts s to max runes (0: no cut).
func oneLineText(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if !printable(s) {
		s = strconv.Quote(s)
	}
	if r := []rune(s); max > 0 && len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}
