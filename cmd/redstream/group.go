package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// groupCmd manages consumer groups: create, delete, setid, consumers,
// delconsumer.
func (a *app) groupCmd() *cobra.Command {
	var stream, group string
	cmd := &cobra.Command{
		Use:   "group",
		Short: "Create, delete, rewind and list consumer groups and their consumers",
		Long: `group manages the consumer groups of --stream.

  create       create group --group, starting at --start ($: new entries only,
               0: the whole stream, or an entry ID)
  delete       delete a group; refused while it has pending entries, unless --force
  setid        move a group's position to rewind or skip: --id ID, or --time
               (RFC 3339, or a duration ago such as 1h)
  consumers    list a group's consumers
  delconsumer  delete a consumer; refused while it owns pending entries,
               unless --force`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&stream, "stream", "", "the stream (required)")
	pf.StringVar(&group, "group", "", "the consumer group (required)")
	_ = cmd.MarkPersistentFlagRequired("stream")
	_ = cmd.MarkPersistentFlagRequired("group")

	// open checks the flags shared by every subcommand and connects.
	open := func(c *cobra.Command) (rueidis.Client, error) {
		switch {
		case stream == "":
			return nil, usagef("--stream must not be empty")
		case group == "":
			return nil, usagef("--group must not be empty")
		}
		return a.connect(c)
	}

	var (
		start    string
		mkstream bool
	)
	create := &cobra.Command{
		Use:   "create --stream S --group G [--start $|0|ID] [--mkstream]",
		Short: "Create a consumer group",
		Example: "  redstream group create --stream tickets --group audit --start 0\n" +
			"  redstream group create --stream new-stream --group g --mkstream",
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if start != "$" {
				if _, err := redstream.ParseID(start); err != nil {
					return usagef("--start must be $, 0 or an entry ID such as 1700000000000-0, got %q", start)
				}
			}
			client, err := open(c)
			if err != nil {
				return err
			}
			defer client.Close()
			err = a.inspector(client).CreateGroup(c.Context(), stream, group, start, mkstream)
			switch {
			case errors.Is(err, redstream.ErrNoStream):
				return &cliError{msg: fmt.Sprintf("stream %s does not exist (pass --mkstream to create it)", nameText(stream)), err: err}
			case errors.Is(err, redstream.ErrGroupExists):
				return &cliError{msg: fmt.Sprintf("group %s already exists on stream %s", nameText(group), nameText(stream)), err: err}
			case err != nil:
				return describe(err, stream)
			}
			fmt.Fprintf(a.stdout, "created group %s on stream %s at %s\n", nameText(group), nameText(stream), start)
			return nil
		}),
	}
	create.Flags().StringVar(&start, "start", "$", "where the group starts: $ (new entries only), 0 (the whole stream) or an entry ID")
	create.Flags().BoolVar(&mkstream, "mkstream", false, "create the stream (empty) if it does not exist")

	var force bool
	del := &cobra.Command{
		Use:   "delete --stream S --group G [--force]",
		Short: "Delete a consumer group",
		Long: `delete deletes a consumer group with its consumers and its pending list.
It refuses while entries are pending in the group (delivered, not yet
acknowledged): --force deletes it anyway, and nobody will know those
entries were never acknowledged.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			client, err := open(c)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := c.Context()
			if _, err := findGroup(ctx, client, stream, group); err != nil {
				return err
			}
			// The library checks and deletes in one step, so nothing
			// becomes pending in between.
			pending, err := redstream.NewInspector(client).DeleteGroup(ctx, stream, group, force)
			switch {
			case errors.Is(err, redstream.ErrNoGroup):
				return noGroup(stream, group, nil)
			case errors.Is(err, redstream.ErrHasPending):
				return &cliError{msg: fmt.Sprintf("group %s of stream %s has %s pending (delivered, not acknowledged); not deleted (--force deletes it anyway)",
					nameText(group), nameText(stream), plural(pending, "entry", "entries")), err: err}
			case err != nil:
				return describe(err, stream)
			}
			msg := fmt.Sprintf("deleted group %s of stream %s", nameText(group), nameText(stream))
			if pending > 0 {
				msg += fmt.Sprintf(" with %s pending", plural(pending, "entry", "entries"))
			}
			fmt.Fprintln(a.stdout, msg)
			return nil
		}),
	}
	del.Flags().BoolVar(&force, "force", false, "delete the group even though entries are pending in it")

	var (
		id, at   string
		setForce bool
	)
	setid := &cobra.Command{
		Use:   "setid --stream S --group G (--id ID | --time TIME)",
		Short: "Rewind or skip a group: set the last entry it was delivered",
		Long: `setid sets the ID of the last entry group G was delivered: the group is
delivered the entries after it next. A smaller ID replays entries, a larger
one skips them. Entries already pending stay pending.

--id takes an entry ID, 0 (replay the whole stream) or $ (skip everything
there is). --time takes an instant, in RFC 3339 (2024-05-01T12:00:00Z) or
as a duration ago (90s, 1h, 2d), and uses the ID <milliseconds>-0 of that
instant: the group is delivered the entries added after it.

A position beyond the stream's last entry is refused (an ID larger than any
the stream has generated, or a --time in the future): the group would skip
every entry added until then while showing lag 0. --force moves it anyway.`,
		Example: "  redstream group setid --stream tickets --group g --time 1h\n" +
			"  redstream group setid --stream tickets --group g --id 0",
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if c.Flags().Changed("id") == c.Flags().Changed("time") {
				return usagef("say where the group goes: --id ID or --time TIME (one of them)")
			}
			byTime := c.Flags().Changed("time")
			var t time.Time
			if byTime {
				var err error
				if t, err = parseInstant(at, time.Now()); err != nil {
					return err
				}
			} else if id != "$" {
				if _, err := redstream.ParseID(id); err != nil {
					return usagef("--id must be $, 0 or an entry ID such as 1700000000000-0, got %q", id)
				}
			}
			client, err := open(c)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := c.Context()
			in := a.inspector(client)
			if byTime {
				err = in.SetGroupTime(ctx, stream, group, t, setForce)
			} else {
				err = in.SetGroupID(ctx, stream, group, id, setForce)
			}
			switch {
			case errors.Is(err, redstream.ErrNoGroup):
				return noGroup(stream, group, err)
			case errors.Is(err, redstream.ErrBeyondEnd):
				return beyondEnd(ctx, in, stream, byTime, at, id)
			case err != nil:
				return describe(err, stream)
			}
			g, err := findGroup(ctx, client, stream, group)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "group %s of stream %s: last delivered ID now %s; lag %s, pending %d\n",
				nameText(group), nameText(stream), orNone(g.LastDeliveredID), lagText(g.Lag), g.Pending)
			return nil
		}),
	}
	setid.Flags().StringVar(&id, "id", "", "the last delivered entry ID: an ID, 0 or $")
	setid.Flags().StringVar(&at, "time", "", "an instant: RFC 3339, or a duration ago such as 1h")
	setid.Flags().BoolVar(&setForce, "force", false, "move the group even beyond the stream's last entry")

	consumers := &cobra.Command{
		Use:   "consumers --stream S --group G",
		Short: "List a group's consumers: pending entries, idle and inactive time",
		Long: `consumers lists the consumers of a group: how many entries each holds
pending, how long since it last tried to read or claim (idle) and since it
last succeeded (inactive; Redis 7.2+, else "unknown").`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			client, err := open(c)
			if err != nil {
				return err
			}
			defer client.Close()
			g, err := findGroup(c.Context(), client, stream, group)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "group %s of stream %s: %s, %d pending\n", nameText(group), nameText(stream),
				plural(int64(len(g.Consumers)), "consumer", "consumers"), g.Pending)
			if len(g.Consumers) == 0 {
				return nil
			}
			return writeConsumers(a.stdout, "", g.Consumers)
		}),
	}

	var (
		consumer string
		dcForce  bool
	)
	delconsumer := &cobra.Command{
		Use:   "delconsumer --stream S --group G --consumer C [--force]",
		Short: "Delete a consumer from a group",
		Long: `delconsumer deletes a consumer from a group. It refuses while the consumer
owns pending entries (delivered to it, not acknowledged): deleting it
drops them from the group's pending list, so no consumer can claim them
any more and they are never processed. --force deletes it anyway.`,
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if consumer == "" {
				return usagef("--consumer must not be empty")
			}
			client, err := open(c)
			if err != nil {
				return err
			}
			defer client.Close()
			ctx := c.Context()
			if _, err := findGroup(ctx, client, stream, group); err != nil {
				return err
			}
			pending, err := redstream.NewInspector(client).DeleteConsumer(ctx, stream, group, consumer, dcForce)
			switch {
			case errors.Is(err, redstream.ErrNoGroup):
				return noGroup(stream, group, err)
			case errors.Is(err, redstream.ErrNoConsumer):
				return &cliError{msg: fmt.Sprintf("group %s of stream %s has no consumer %s", nameText(group), nameText(stream), nameText(consumer)), err: err}
			case errors.Is(err, redstream.ErrHasPending):
				return &cliError{msg: fmt.Sprintf("consumer %s still owns %s pending in group %s; not deleted: they would become unclaimable and never be processed (--force deletes it anyway)",
					nameText(consumer), plural(pending, "entry", "entries"), nameText(group)), err: err}
			case err != nil:
				return describe(err, stream)
			}
			msg := fmt.Sprintf("deleted consumer %s from group %s of stream %s", nameText(consumer), nameText(group), nameText(stream))
			if pending > 0 {
				msg += fmt.Sprintf("; its %s pending are dropped from the group and will not be processed", plural(pending, "entry", "entries"))
			}
			fmt.Fprintln(a.stdout, msg)
			return nil
		}),
	}
	delconsumer.Flags().StringVar(&consumer, "consumer", "", "the consumer to delete (required)")
	delconsumer.Flags().BoolVar(&dcForce, "force", false, "delete the consumer even though it owns pending entries")
	_ = delconsumer.MarkFlagRequired("consumer")

	subcommands(cmd)
	cmd.AddCommand(create, del, setid, consumers, delconsumer)
	return cmd
}

// findGroup returns the state of group in stream, or a clear error when
// the stream or the group does not exist.
func findGroup(ctx context.Context, client rueidis.Client, stream, group string) (*redstream.GroupInfo, error) {
	info, err := redstream.NewInspector(client).Stream(ctx, stream)
	if err != nil {
		return nil, describe(err, stream)
	}
	for i := range info.Groups {
		if info.Groups[i].Name == group {
			return &info.Groups[i], nil
		}
	}
	return nil, noGroup(stream, group, nil)
}

// beyondEnd explains a refused move of a group past the stream's last
// entry as bad usage: the group would skip every entry added until then
// while its lag shows 0.
func beyondEnd(ctx context.Context, in *redstream.Inspector, stream string, byTime bool, at, id string) error {
	const why = "the group would skip every entry added until then while its lag shows 0; not moved (--force moves it anyway)"
	if byTime {
		return usagef("--time %s is in the future: %s", at, why)
	}
	last := "0-0"
	if info, err := in.Stream(ctx, stream); err == nil && info.LastGeneratedID != "" {
		last = info.LastGeneratedID
	}
	return usagef("--id %s is beyond the last entry of stream %s (%s): %s", id, nameText(stream), last, why)
}

func noGroup(stream, group string, err error) error {
	if err == nil {
		err = redstream.ErrNoGroup
	}
	return &cliError{msg: fmt.Sprintf("stream %s has no consumer group %s", nameText(stream), nameText(group)), err: err}
}

// parseInstant reads a point in time: RFC 3339, or a duration before now
// ("90s", "1h30m", "2d").
func parseInstant(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseAge(s)
	if err != nil {
		return time.Time{}, usagef("%q is neither an RFC 3339 time (2024-05-01T12:00:00Z) nor a duration ago (90s, 1h, 2d)", s)
	}
	return now.Add(-d), nil
}

// parseAge reads a non-negative duration, Go style ("90s", "1h30m") or
// in whole days ("2d").
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && !strings.ContainsAny(days, "hmsuµn") {
		var n int64
		if _, err = fmt.Sscanf(days, "%d", &n); err == nil && fmt.Sprint(n) == days && n <= math.MaxInt64/int64(24*time.Hour) {
			d = time.Duration(n) * 24 * time.Hour
		} else {
			err = fmt.Errorf("invalid duration %q", s)
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}
