package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/rueidis"
	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

const (
	// tailBlock bounds each XREAD wait, so Ctrl-C is seen within it.
	tailBlock = time.Second
	// tailBatch is the most entries one XREAD returns.
	tailBatch = 500
)

func (a *app) tailCmd() *cobra.Command {
	var (
		stream, from string
		count        int64
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "tail --stream S [--from ID] [--json] [--count N]",
		Short: "Print a stream's new entries as they arrive, without joining a group",
		Long: `tail prints the entries appended to a stream as they arrive, until Ctrl-C.
It reads with XREAD, not as a member of a consumer group: it acknowledges
nothing, owns nothing and leaves no trace in any group.

By default it starts at the end of the stream ($). --from ID first prints
the entries after ID (--from 0: the whole stream), then follows.
--count N stops after N entries. A stream that does not exist yet is
waited for.

The lines are those of consume (see "redstream consume --help" for the
quoting of text, headers and the _base64 members of JSON): "<id>
field=value ...", or with --json
  {"id":"...","stream":"...","fields":[{"name":"...","value":"..."},...],"deliveries":0}
where deliveries is always 0: tail is not delivered entries by a group.`,
		Example: "  redstream tail --stream tickets\n  redstream tail --stream tickets --from 0 --json",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			switch {
			case stream == "":
				return usagef("--stream must not be empty")
			case count < 0:
				return usagef("--count must not be negative, got %d", count)
			}
			if from != "$" {
				if _, err := redstream.ParseID(from); err != nil {
					return usagef("--from must be $, 0 or an entry ID such as 1700000000000-0, got %q", from)
				}
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			t := &tailer{app: a, client: client, stream: stream, count: count, json: asJSON}
			err = t.run(cmd.Context(), from)
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil // Ctrl-C: a normal end
			}
			return describe(err, stream)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&stream, "stream", "", "the stream to follow (required)")
	f.StringVar(&from, "from", "$", "print the entries after this ID first: an entry ID, 0 (the whole stream) or $ (only new ones)")
	f.BoolVar(&asJSON, "json", false, "print one JSON object per entry")
	f.Int64Var(&count, "count", 0, "stop after this many entries (0: no limit)")
	_ = cmd.MarkFlagRequired("stream")
	return cmd
}

type tailer struct {
	*app
	client rueidis.Client
	stream string
	count  int64 // 0: no limit
	json   bool
	n      int64 // printed so far
}

func (t *tailer) run(ctx context.Context, from string) error {
	after := from
	if from == "$" {
		// Resolve "$" once: reading "$" again on every round would miss
		// the entries added between two reads.
		info, err := t.inspector(t.client).Stream(ctx, t.stream)
		switch {
		case errors.Is(err, redstream.ErrNoStream):
			after = "0-0"
			t.log().Info("stream does not exist yet; waiting for entries", "stream", t.stream)
		case err != nil:
			return err
		default:
			after = info.LastGeneratedID
		}
	}
	in := t.inspector(t.client)
	for t.count == 0 || t.n < t.count {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := in.Tail(ctx, t.stream, after, tailBatch, tailBlock)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		for _, m := range msgs {
			after = m.ID
			if t.count > 0 && t.n >= t.count {
				break
			}
			line := textLine(m)
			if t.json {
				line = jsonLine(m)
			}
			if _, err := t.stdout.Write(line); err != nil {
				return fmt.Errorf("write output: %w", err)
			}
			t.n++
		}
	}
	return nil
}
