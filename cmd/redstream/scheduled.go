package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/spf13/cobra"
)

func (a *app) scheduledCmd() *cobra.Command {
	var stream string
	cmd := &cobra.Command{
		Use:   "scheduled",
		Short: "List and cancel a stream's scheduled entries",
		Long: `scheduled works on the entries scheduled for --stream (publish --in or
--at, or the library's PublishIn and PublishAt) that wait to be appended.
They wait in Redis, in the sorted set "{<tag>}:scheduled:<stream>" by due
time, and the stream's consumers append them when due; while no consumer
runs, they wait.

list prints them, earliest due first, with their scheduled IDs; cancel
--id ID removes one before it is appended (exit 1 if it is no longer
waiting: appended already, cancelled, or never scheduled).

list --json prints one object per entry:
  {"id":"...","stream":"...","due":"2026-12-24T18:00:00Z","fields":[{"name":"...","value":"..."},...],"headers":[...]}
with the fields and headers as consume --json prints them ("headers" left
out when the entry has none). The text of list shows a HEADERS column
when an entry listed has headers.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&stream, "stream", "", "the stream whose scheduled entries to work on (required)")
	_ = cmd.MarkPersistentFlagRequired("stream")

	var (
		count  int64
		asJSON bool
		id     string
	)
	list := &cobra.Command{
		Use:     "list --stream S [--count N] [--json]",
		Short:   "List scheduled entries, earliest due first",
		Example: "  redstream scheduled list --stream tickets",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if stream == "" {
				return usagef("--stream must not be empty")
			}
			if err := checkRange("count", count, 1, maxListCount); err != nil {
				return err
			}
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			in := redstream.NewInspector(client)
			list, err := in.Scheduled(c.Context(), stream, count)
			if err != nil {
				return describe(err, stream)
			}
			if asJSON {
				for _, m := range list {
					if err := writeJSON(a.stdout, m, ""); err != nil {
						return err
					}
				}
				return nil
			}
			return writeScheduled(a.stdout, stream, list)
		}),
	}
	list.Flags().Int64Var(&count, "count", 100, "the most entries to list (1 to 100000)")
	list.Flags().BoolVar(&asJSON, "json", false, "print one JSON object per entry")

	cancel := &cobra.Command{
		Use:     "cancel --stream S --id ID",
		Short:   "Cancel a scheduled entry: it is never appended",
		Example: "  redstream scheduled cancel --stream tickets --id 000000000000002a",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if stream == "" || id == "" {
				return usagef("--stream and --id must not be empty")
			}
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := redstream.NewInspector(client).CancelScheduled(c.Context(), stream, id); err != nil {
				if isNoEntry(err) {
					return &cliError{msg: fmt.Sprintf("scheduled entry %s of %s is not waiting: appended already, cancelled, or never scheduled", nameText(id), nameText(stream)), err: err}
				}
				return describe(err, stream)
			}
			fmt.Fprintf(a.stdout, "cancelled %s\n", nameText(id))
			return nil
		}),
	}
	cancel.Flags().StringVar(&id, "id", "", "the scheduled ID, as publish --in/--at or list printed it (required)")
	_ = cancel.MarkFlagRequired("id")
	cmd.AddCommand(list, cancel)
	return subcommands(cmd)
}

func writeScheduled(w io.Writer, stream string, list []redstream.ScheduledMessage) error {
	fmt.Fprintf(w, "%s: %d scheduled entries listed\n", nameText(stream), len(list))
	if len(list) == 0 {
		return nil
	}
	withHeaders := false
	for _, m := range list {
		withHeaders = withHeaders || len(m.Headers) > 0
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if withHeaders {
		fmt.Fprintln(tw, "ID\tDUE\tIN\tHEADERS\tFIELDS")
	} else {
		fmt.Fprintln(tw, "ID\tDUE\tIN\tFIELDS")
	}
	for _, m := range list {
		in := roundDuration(time.Until(m.Due))
		fmt.Fprintf(tw, "%s\t%s\t%s\t", m.ID, m.Due.UTC().Format(time.RFC3339Nano), in)
		if withHeaders {
			h := pairsText(m.Headers, 80)
			if h == "" {
				h = "-"
			}
			fmt.Fprintf(tw, "%s\t", h)
		}
		fmt.Fprintf(tw, "%s\n", pairsText(m.Fields, 80))
	}
	return tw.Flush()
}

// pairsText prints fields (or headers) as "name=value name=value" on one
// line, cut to max runes (see oneLineText).
func pairsText(fields []redstream.Field, max int) string {
	s := ""
	for i, f := range fields {
		if i > 0 {
			s += " "
		}
		s += nameText(f.Name) + "=" + valueText(f.Value)
	}
	return oneLineText(s, max)
}
