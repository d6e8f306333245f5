package main

import (
	"encoding/json"
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
			info, err := redstream.NewInspector(client).Stream(cmd.Context(), stream)
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func writeInfoText(w io.Writer, info *redstream.StreamInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stream\t%s\n", info.Stream)
	fmt.Fprintf(tw, "length\t%d\n", info.Length)
	fmt.Fprintf(tw, "first ID\t%s\n", orNone(info.FirstID))
	fmt.Fprintf(tw, "last ID\t%s\n", orNone(info.LastID))
	fmt.Fprintf(tw, "last generated ID\t%s\n", orNone(info.LastGeneratedID))
	fmt.Fprintf(tw, "groups\t%d\n", len(info.Groups))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range info.Groups {
		fmt.Fprintf(w, "\ngroup %s\n", g.Name)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  consumers\t%d\n", len(g.Consumers))
		fmt.Fprintf(tw, "  pending\t%d\n", g.Pending)
		fmt.Fprintf(tw, "  lag\t%s\n", lagText(g.Lag))
		fmt.Fprintf(tw, "  last delivered ID\t%s\n", orNone(g.LastDeliveredID))
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(g.Consumers) == 0 {
			continue
		}
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  CONSUMER\tPENDING\tIDLE\n")
		for _, c := range g.Consumers {
			fmt.Fprintf(tw, "  %s\t%d\t%s\n", c.Name, c.Pending, idleText(c.Idle))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
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
	return s
}
