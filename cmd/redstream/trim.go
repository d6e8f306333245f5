package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

func (a *app) trimCmd() *cobra.Command {
	var (
		stream, minID, olderThan string
		maxLen                   int64
		acked, yes               bool
	)
	cmd := &cobra.Command{
		Use:   "trim --stream S (--maxlen N | --minid ID | --older-than DURATION | --acked) [--yes]",
		Short: "Remove old entries from a stream (a dry run unless --yes)",
		Long: `trim removes the oldest entries of a stream. Say which with exactly one of:

  --maxlen N             keep the newest N entries
  --minid ID             remove the entries with IDs below ID
  --older-than DURATION  remove the entries older than DURATION (by the time
                         in their ID): 90m, 12h, 7d
  --acked                remove only the entries every consumer group has read
                         and none holds pending: nothing a group still needs

By default it only shows what would go: how many entries, the first ID
kept, and why. --yes trims. --maxlen, --minid and --older-than remove
entries whether or not groups have read them; --acked works out its bound
again inside Redis at the moment of trimming, so entries a group came to
need since the dry run are kept.`,
		Example: "  redstream trim --stream tickets --acked\n" +
			"  redstream trim --stream tickets --acked --yes\n" +
			"  redstream trim --stream tickets --older-than 7d --yes",
		Args: cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			if stream == "" {
				return usagef("--stream must not be empty")
			}
			fl := cmd.Flags()
			if n := btoi(fl.Changed("maxlen")) + btoi(fl.Changed("minid")) + btoi(fl.Changed("older-than")) + btoi(fl.Changed("acked")); n != 1 {
				return usagef("say what to trim with exactly one of --maxlen, --minid, --older-than or --acked")
			}
			var opts redstream.TrimOptions
			switch {
			case fl.Changed("maxlen"):
				if maxLen < 1 {
					return usagef("--maxlen must be at least 1, got %d", maxLen)
				}
				opts.MaxLen = maxLen
			case fl.Changed("minid"):
				if _, err := redstream.ParseID(minID); err != nil {
					return usagef("--minid must be an entry ID such as 1700000000000-0, got %q", minID)
				}
				opts.MinID = minID
			case fl.Changed("older-than"):
				d, err := parseAge(olderThan)
				if err != nil || d == 0 {
					return usagef("--older-than must be a positive duration such as 90m, 12h or 7d, got %q", olderThan)
				}
				opts.OlderThan = d
			default:
				if !acked {
					return usagef("--acked=false trims nothing; say what to trim")
				}
				opts.Acked = true
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := cmd.Context()
			in := redstream.NewInspector(client)
			plan, err := in.PlanTrim(ctx, stream, opts)
			if err != nil {
				return describe(err, stream)
			}
			writeTrimPlan(a, plan)
			if plan.Bound == "" {
				return nil
			}
			if !yes {
				fmt.Fprintln(a.stdout, "dry run: pass --yes to trim")
				return nil
			}
			n, err := in.Trim(ctx, plan, opts.Acked)
			if err != nil {
				return describe(err, stream)
			}
			fmt.Fprintf(a.stdout, "removed %s from stream %s\n", plural(n, "entry", "entries"), nameText(stream))
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the stream to trim (required)")
	f.Int64Var(&maxLen, "maxlen", 0, "keep the newest N entries")
	f.StringVar(&minID, "minid", "", "remove the entries with IDs below this one")
	f.StringVar(&olderThan, "older-than", "", "remove the entries older than this: 90m, 12h, 7d")
	f.BoolVar(&acked, "acked", false, "remove only entries every group has read and none holds pending")
	f.BoolVar(&yes, "yes", false, "trim; without it, only show what would go")
	_ = cmd.MarkFlagRequired("stream")
	return cmd
}

// writeTrimPlan prints what a trim would remove, and why.
func writeTrimPlan(a *app, p *redstream.TrimPlan) {
	w := a.stdout
	fmt.Fprintf(w, "stream %s: %s\n", nameText(p.Stream), plural(p.Length, "entry", "entries"))
	if p.Bound == "" {
		fmt.Fprintf(w, "nothing to trim: %s\n", p.Why)
		return
	}
	n := "more than 1000000 entries"
	if p.Remove >= 0 {
		n = plural(p.Remove, "entry", "entries")
	}
	fmt.Fprintf(w, "would remove %s: the IDs below %s\n", n, p.Bound)
	fmt.Fprintf(w, "why: %s\n", p.Why)
}
