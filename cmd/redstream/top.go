package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// ansiHome moves the cursor home and clears the screen: a terminal frame
// of top starts with it.
const ansiHome = "\x1b[H\x1b[2J"

// topLegend says what top's rates are and how they are worked out.
const topLegend = `rates per second since the previous refresh (each stream says over how long):
  added      entries appended (entries-added; the growth of XLEN before Redis 7)
  delivered  new entries read by the group: added - the change in its lag
  acked      delivered - the change in pending`

func (a *app) topCmd() *cobra.Command {
	var (
		streams    []string
		match      string
		interval   time.Duration
		iterations int
	)
	cmd := &cobra.Command{
		Use:   "top [--stream S ... | --match PATTERN] [--interval D]",
		Short: "A live view of streams, groups and consumers: rates, lag, pending",
		Long: `top shows streams, their consumer groups and consumers, refreshed every
--interval until Ctrl-C: each stream's length, memory, dead letters (in
"<stream>:dead", or "<stream><suffix>" with --dead-suffix), scheduled
entries waiting to be appended (publish --in/--at) and how fast
entries are added; each group's lag, pending entries (and how old
the oldest is) and how fast it is delivered and acknowledges entries; each
consumer's pending entries and idle time.

It shows the streams named by --stream (repeatable), else the streams
whose names match --match (a glob, default "*": all streams, found by
SCAN on every refresh).

The rates are per second since the previous refresh, worked out from two
readings of each stream (its line ends with "rates over" the time between
them), so the first refresh shows none ("-"):
  added      entries appended to the stream (entries-added, Redis 7+;
             the growth of its length on older servers)
  delivered  new entries read by the group: added - the change in its lag
             (shown when the lag is known at both readings)
  acked      entries acknowledged: delivered - the change in pending
             (a deleted consumer's entries count as acknowledged)
A group moved back by "group setid" shows no rates for that refresh.

On a terminal top redraws the screen in place; otherwise it prints one
plain block per refresh.`,
		Example: "  redstream top\n  redstream top --stream tickets --interval 2s\n  redstream top --match 'orders:*'",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			switch {
			case len(streams) > 0 && cmd.Flags().Changed("match"):
				return usagef("say which streams with --stream or --match, not both")
			case iterations < 0:
				return usagef("--iterations must not be negative, got %d", iterations)
			}
			if err := checkRange("interval", interval, minTopInterval, maxTopInterval); err != nil {
				return err
			}
			for _, s := range streams {
				if s == "" {
					return usagef("--stream must not be empty")
				}
			}
			client, err := a.connect(cmd)
			if err != nil {
				return err
			}
			defer client.Close()
			t := &top{
				app: a, in: a.inspector(client),
				streams: streams, match: match, interval: interval,
				prev: map[string]*streamSample{},
			}
			return t.run(cmd.Context(), iterations)
		}),
	}
	f := cmd.Flags()
	f.StringArrayVar(&streams, "stream", nil, "a stream to show (repeatable)")
	f.StringVar(&match, "match", "*", "show the streams whose names match this glob")
	f.DurationVar(&interval, "interval", time.Second, "time between refreshes (100ms to 24h)")
	f.IntVar(&iterations, "iterations", 0, "stop after this many refreshes (0: until Ctrl-C)")
	_ = f.MarkHidden("iterations")
	return cmd
}

// top is one run of the top command.
type top struct {
	*app
	in       *redstream.Inspector
	streams  []string
	match    string
	interval time.Duration

	prev  map[string]*streamSample // the previous reading of each stream
	shown int                      // frames drawn
}

// streamSample is one reading of a stream, kept to work out rates.
type streamSample struct {
	at     time.Time
	added  int64 // entries-added, or the length where the server has no count
	groups map[string]groupSample
}

type groupSample struct {
	lag     *int64
	pending int64
}

func (t *top) run(ctx context.Context, iterations int) error {
	ticks := t.topTicks
	if ticks == nil {
		tick := time.NewTicker(t.interval)
		defer tick.Stop()
		ticks = tick.C
	}
	for n := 0; iterations == 0 || n < iterations; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-ticks:
			}
		}
		frame, err := t.frame(ctx)
		if ctx.Err() != nil {
			return nil // Ctrl-C: a normal end
		}
		if err != nil {
			if n == 0 {
				return err
			}
			frame = fmt.Appendf(nil, "redstream top at %s: refresh failed: %s\n", time.Now().Format(time.TimeOnly), oneLine(err))
		}
		var out bytes.Buffer
		if t.outTTY {
			out.WriteString(ansiHome)
		} else if t.shown > 0 {
			out.WriteByte('\n')
		}
		out.Write(frame)
		if _, err := t.stdout.Write(out.Bytes()); err != nil {
			return fmt.Errorf("write output: %w", err)
		}
		t.shown++
	}
	return nil
}

// frame reads every stream once and formats one refresh.
func (t *top) frame(ctx context.Context) ([]byte, error) {
	names := t.streams
	if len(names) == 0 {
		var err error
		if names, err = t.in.Streams(ctx, t.match); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	now := time.Now()
	fmt.Fprintf(&b, "redstream top: %s at %s, every %v\n", plural(int64(len(names)), "stream", "streams"), now.Format(time.TimeOnly), t.interval)
	if len(names) == 0 {
		fmt.Fprintf(&b, "no streams match %q\n", t.match)
	}
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		seen[name] = true
		b.WriteByte('\n')
		info, err := t.in.Stream(ctx, name)
		switch {
		case errors.Is(err, redstream.ErrNoStream), errors.Is(err, redstream.ErrNotStream):
			fmt.Fprintf(&b, "%s\n", strings.TrimPrefix(oneLine(describe(err, name)), "redstream: "))
			delete(t.prev, name)
			continue
		case err != nil:
			return nil, describe(err, name) // a missing permission says so, as elsewhere
		}
		// Entries ever added (Redis 7+), or the length on servers that do
		// not count them.
		added := info.Length
		if info.EntriesAdded != nil {
			added = *info.EntriesAdded
		}
		t.writeStream(&b, info, added)
	}
	for name := range t.prev {
		if !seen[name] {
			delete(t.prev, name)
		}
	}
	if t.outTTY || t.shown == 0 {
		fmt.Fprintf(&b, "\n%s\n", topLegend)
	}
	if t.outTTY {
		b.WriteString("Ctrl-C quits\n")
	}
	return b.Bytes(), nil
}

func (t *top) writeStream(w io.Writer, info *redstream.StreamInfo, added int64) {
	cur := &streamSample{at: info.ReadAt, added: added, groups: make(map[string]groupSample, len(info.Groups))}
	prev := t.prev[info.Stream]
	t.prev[info.Stream] = cur
	var secs float64
	if prev != nil {
		secs = cur.at.Sub(prev.at).Seconds()
	}
	rate := func(delta int64, ok bool) string {
		if !ok || secs <= 0 || delta < 0 {
			return "-"
		}
		return strconv.FormatFloat(float64(delta)/secs, 'f', 1, 64) + "/s"
	}
	var (
		addedDelta int64
		over       string
	)
	if prev != nil {
		addedDelta = added - prev.added
		over = ", rates over " + cur.at.Sub(prev.at).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "stream %s: length %d, added %s, memory %s, dead letters %d, scheduled %d%s\n",
		nameText(info.Stream), info.Length, rate(addedDelta, prev != nil), bytesText(info.MemoryBytes), info.DeadLetters, info.Scheduled, over)
	for _, g := range info.Groups {
		cur.groups[g.Name] = groupSample{lag: g.Lag, pending: g.Pending}
		delivered, acked := "-", "-"
		if prev != nil {
			if pg, ok := prev.groups[g.Name]; ok && pg.lag != nil && g.Lag != nil {
				d := addedDelta - (*g.Lag - *pg.lag)
				delivered = rate(d, true)
				if d >= 0 {
					acked = rate(d-(g.Pending-pg.pending), true)
				}
			}
		}
		oldest := ""
		if g.OldestPendingAge != nil {
			oldest = " (oldest " + roundDuration(*g.OldestPendingAge).String() + ")"
		}
		fmt.Fprintf(w, "  group %s: lag %s, pending %d%s, delivered %s, acked %s\n",
			nameText(g.Name), lagText(g.Lag), g.Pending, oldest, delivered, acked)
		if len(g.Consumers) > 0 {
			_ = writeConsumers(w, "    ", g.Consumers)
		}
	}
}
