package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

func (a *app) infoCmd() *cobra.Command {
	var (
		stream string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "info --stream S [--json]",
		Short: "Show a stream's length, first and last IDs, and its consumer groups",
		Long: `info shows a stream's length, its first and last entry IDs and, for each
consumer group, its consumers, pending entries, lag and last delivered ID.
It also shows the stream's memory (as the server estimates it), its dead
letters (in "<stream>:dead", or "<stream><suffix>" with --dead-suffix),
each group's oldest pending entry and how old it is, and for each consumer
how long it has been idle (since it last tried to read or claim) and
inactive (since it last succeeded; Redis 7.2+, else "unknown").

Lag is how many entries the group has not been delivered yet; it shows
"unknown" when the server does not report it and the backlog is too long to
count. --json prints the same as one JSON object.`,
		Example: "  redstream info --stream tickets\n  redstream info --stream tickets --json",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if stream == "" {
				return usagef("--stream must not be empty")
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			info, err := a.inspector(client).Stream(cmd.Context(), stream)
			if err != nil {
				return describe(err, stream)
			}
			if asJSON {
				return writeInfoJSON(a.stdout, info)
			}
			return writeInfoText(a.stdout, info)
		}),
	}
	cmd.Flags().StringVar(&stream, "stream", "", "the stream to inspect (required)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the stream's state as JSON")
	_ = cmd.MarkFlagRequired("stream")
	return cmd
}

func writeInfoJSON(w io.Writer, info *redstream.StreamInfo) error {
	out := *info
	out.Groups = append([]redstream.GroupInfo{}, info.Groups...) // [] rather than null
	for i := range out.Groups {
		if out.Groups[i].Consumers == nil {
			out.Groups[i].Consumers = []redstream.ConsumerInfo{}
		}
	}
	return writeJSON(w, out, "  ")
}

func writeInfoText(w io.Writer, info *redstream.StreamInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stream\t%s\n", nameText(info.Stream))
	fmt.Fprintf(tw, "length\t%d\n", info.Length)
	fmt.Fprintf(tw, "first ID\t%s\n", orNone(info.FirstID))
	fmt.Fprintf(tw, "last ID\t%s\n", orNone(info.LastID))
	fmt.Fprintf(tw, "last generated ID\t%s\n", orNone(info.LastGeneratedID))
	fmt.Fprintf(tw, "memory\t%s\n", bytesText(info.MemoryBytes))
	fmt.Fprintf(tw, "dead letters\t%d in %s\n", info.DeadLetters, nameText(info.DeadLetterStream))
	if info.NextDue != nil {
		fmt.Fprintf(tw, "scheduled\t%d, next due %s\n", info.Scheduled, info.NextDue.UTC().Format(time.RFC3339Nano))
	} else {
		fmt.Fprintf(tw, "scheduled\t%d\n", info.Scheduled)
	}
	fmt.Fprintf(tw, "groups\t%d\n", len(info.Groups))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range info.Groups {
		fmt.Fprintf(w, "\ngroup %s\n", nameText(g.Name))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  consumers\t%d\n", len(g.Consumers))
		fmt.Fprintf(tw, "  pending\t%d\n", g.Pending)
		fmt.Fprintf(tw, "  lag\t%s\n", lagText(g.Lag))
		fmt.Fprintf(tw, "  last delivered ID\t%s\n", orNone(g.LastDeliveredID))
		fmt.Fprintf(tw, "  oldest pending ID\t%s\n", orNone(g.OldestPendingID))
		fmt.Fprintf(tw, "  oldest pending age\t%s\n", durText(g.OldestPendingAge, "-"))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(g.Consumers) == 0 {
			continue
		}
		if err := writeConsumers(w, "  ", g.Consumers); err != nil {
			return err
		}
	}
	return nil
}

// writeConsumers prints a consumer table, each line after indent.
func writeConsumers(w io.Writer, indent string, cs []redstream.ConsumerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%sCONSUMER\tPENDING\tIDLE\tINACTIVE\n", indent)
	for _, c := range cs {
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%s\n", indent, nameText(c.Name), c.Pending, idleText(c.Idle), durText(c.Inactive, "unknown"))
	}
	return tw.Flush()
}

// durText prints an optional duration, or ifNil.
func durText(d *time.Duration, ifNil string) string {
	if d == nil {
		return ifNil
	}
	return roundDuration(*d).String()
}

// bytesText prints a size in binary units, or "unknown".
func bytesText(n *int64) string {
	if n == nil {
		return "unknown"
	}
	const unit = 1024
	if *n < unit {
		return fmt.Sprintf("%d B", *n)
	}
	v, i := float64(*n)/unit, 0
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}

// lagText prints a group's lag, or "unknown" when nobody knows it: a
// guess would be a wrong number.
func lagText(lag *int64) string {
	if lag == nil {
		return "unknown"
	}
	return strconv.FormatInt(*lag, 10)
}

func idleText(d time.Duration) string {
	if d < 0 {
		return "unknown" // the server did not say
	}
	return roundDuration(d).String()
}

func orNone(s string) string {
	if s == "" || s == "0-0" {
		return "-"
	}
	return nameText(s)
}
