package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/redstream-go/redstream"
)

// The bounds of the CLI's size-like flags. Each flag that sizes a read,
// a buffer or a number of goroutines is bounded, so a typo cannot make
// the process allocate without limit; a value out of range is bad usage.
const (
	// maxConcurrency bounds consume's and demo's --concurrency: the
	// entries read, held and printed at once.
	maxConcurrency = 10000
	// maxConsumers bounds demo's --consumers.
	maxConsumers = 1000
	// maxTickets bounds demo's --tickets (the demo remembers each one).
	maxTickets = 10_000_000
	// maxKeys bounds demo's --keys.
	maxKeys = 1_000_000
	// maxWork bounds demo's --work.
	maxWork = time.Hour
	// maxPublishCount bounds publish --count (entries go out in batches
	// of publishBatch: memory does not grow with it).
	maxPublishCount = 100_000_000
	// maxListCount bounds the --count of pending and dlq list: the list
	// is held in memory and printed at once.
	maxListCount = 100_000
	// minTopInterval and maxTopInterval bound top's --interval: each
	// refresh sends a few commands per stream and group.
	minTopInterval = 100 * time.Millisecond
	maxTopInterval = 24 * time.Hour
)

// checkRange returns a usage error naming the flag and its allowed range
// when v is outside lo..hi.
func checkRange[T int | int64 | time.Duration](flag string, v, lo, hi T) error {
	if v < lo || v > hi {
		return usagef("--%s must be between %s and %s, got %s", flag, numText(lo), numText(hi), numText(v))
	}
	return nil
}

// numText prints a flag's number, and a duration without its zero
// minutes and seconds ("24h", not "24h0m0s").
func numText(v any) string {
	if d, ok := v.(time.Duration); ok {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = s[:len(s)-2] // "5m0s" -> "5m", "1h0m0s" -> "1h0m"
		}
		if strings.HasSuffix(s, "h0m") {
			s = s[:len(s)-2] // "1h0m" -> "1h"
		}
		return s
	}
	return fmt.Sprint(v)
}

// checkIDFlag checks an entry-ID flag before anything is sent: an entry
// ID ("1700000000000-0", "1700000000000" or "0"), or one of the special
// values listed in also (such as "$", "-", "+").
func checkIDFlag(flag, v string, also ...string) error {
	for _, s := range also {
		if v == s {
			return nil
		}
	}
	if _, err := redstream.ParseID(v); err == nil {
		return nil
	}
	want := "an entry ID such as 1700000000000-0"
	if len(also) > 0 {
		want = strings.Join(also, ", ") + " or " + want
	}
	return usagef("--%s must be %s, got %q", flag, want, v)
}

// checkHostPort checks an address to listen on: host:port or :port,
// with a numeric port between 0 and 65535.
func checkHostPort(flag, addr, example string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return usagef("--%s %q is not host:port with a port between 0 and 65535, such as %s", flag, addr, example)
	}
	return nil
}

// helpCmd is "redstream help [command]": cobra's own answers an unknown
// topic with the root's help and exit 0; this one with bad usage.
func helpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "help shows the help of a command: redstream help group setid",
		RunE: func(c *cobra.Command, args []string) error {
			cmd, rest, err := c.Root().Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("unknown help topic %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// subcommands makes cmd a group of subcommands: run bare it prints its
// help (exit 0); with an argument that names none of its subcommands it
// is bad usage (exit 2), with suggestions as for the root's commands.
func subcommands(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2 // as cobra's default for the root
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return pflag.ErrHelp // cobra prints the help and succeeds
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if sugg := c.SuggestionsFor(args[0]); len(sugg) > 0 {
			msg += " (did you mean " + strings.Join(sugg, " or ") + "?)"
		}
		return usagef("%s", msg)
	}
	// Never reached (Args answers first), but a command with a RunE is
	// one cobra validates the arguments of.
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	return cmd
}
