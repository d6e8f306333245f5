package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// pendingPage is how many pending entries one XPENDING call fetches.
const pendingPage = 1000

func (a *app) pendingCmd() *cobra.Command {
	var (
		stream, group, consumer string
		count                   int64
		asJSON                  bool
	)
	cmd := &cobra.Command{
		Use:   "pending --stream S --group G [--consumer C] [--count N] [--json]",
		Short: "List a group's pending entries: owner, idle time, deliveries",
		Long: `pending lists the entries delivered to consumers of group G and not yet
acknowledged, oldest first: which consumer owns each, how long since it
was last delivered (idle) and how many times it was delivered.

--consumer lists only one consumer's entries; --count caps the list
(default 100). --json prints one object per line:
  {"id":"...","consumer":"...","idle_ns":1500000000,"deliveries":2}`,
		Example: "  redstream pending --stream tickets --group tickets-consumer-group\n" +
			"  redstream pending --stream tickets --group g --consumer worker-1 --json",
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			switch {
			case stream == "":
				return usagef("--stream must not be empty")
			case group == "":
				return usagef("--group must not be empty")
			}
			if err := checkRange("count", count, 1, maxListCount); err != nil {
				return err
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := cmd.Context()
			g, err := findGroup(ctx, client, stream, group)
			if err != nil {
				return err
			}
			in := redstream.NewInspector(client)
			var list []redstream.PendingEntry
			for start := "-"; start != "" && int64(len(list)) < count; {
				page, next, err := in.Pending(ctx, stream, group, start, min(count-int64(len(list)), pendingPage), consumer)
				if err != nil {
					return describe(err, stream)
				}
				list = append(list, page...)
				start = next
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				for _, p := range list {
					if err := enc.Encode(p); err != nil {
						return err
					}
				}
				return nil
			}
			total := g.Pending
			if consumer != "" {
				total = -1
				for _, c := range g.Consumers {
					if c.Name == consumer {
						total = c.Pending
					}
				}
				if total < 0 {
					return &cliError{msg: fmt.Sprintf("group %s of stream %s has no consumer %s", nameText(group), nameText(stream), nameText(consumer))}
				}
			}
			return writePending(a.stdout, stream, group, consumer, total, list)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the stream (required)")
	f.StringVar(&group, "group", "", "the consumer group (required)")
	f.StringVar(&consumer, "consumer", "", "list only this consumer's pending entries")
	f.Int64Var(&count, "count", 100, "the most entries to list (1 to 100000)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per pending entry")
	_ = cmd.MarkFlagRequired("stream")
	_ = cmd.MarkFlagRequired("group")
	return cmd
}

func writePending(w io.Writer, stream, group, consumer string, total int64, list []redstream.PendingEntry) error {
	who := "group " + nameText(group)
	if consumer != "" {
		who = "consumer " + nameText(consumer) + " of group " + nameText(group)
	}
	shown := ""
	if int64(len(list)) < total {
		shown = fmt.Sprintf(" (showing the oldest %d)", len(list))
	}
	fmt.Fprintf(w, "%s of stream %s: %d pending%s\n", who, nameText(stream), total, shown)
	if len(list) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONSUMER\tIDLE\tDELIVERIES")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", p.ID, nameText(p.Consumer), idleText(p.Idle), p.Deliveries)
	}
	return tw.Flush()
}
