package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// Exit codes.
const (
	exitOK      = 0 // success
	exitFailure = 1 // runtime failure: Redis unreachable, missing stream, ...
	exitUsage   = 2 // bad usage: unknown command or flag, bad flag value
)

// defaultRedisURL is where publish, consume and info connect without
// --redis or REDIS_URL: a local Redis, or "redstream dev-server".
const defaultRedisURL = "redis://127.0.0.1:6379"

// app holds what every command shares: the process environment and the
// global flags. Commands are methods on it so tests run them in-process.
type app struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer // serialized: safe for concurrent writes
	stderr io.Writer // serialized: safe for concurrent writes
	outTTY bool      // stdout is a terminal

	redisURL   string       // --redis
	deadSuffix string       // --dead-suffix
	logFormat  string       // --log-format
	logLevel   string       // --log-level
	logger     *slog.Logger // from the log flags, set before a command runs
	started    bool         // a command's RunE was entered: flags and args were valid

	// topTicks, if set (by tests), replaces top's ticker: each value
	// received starts the next refresh.
	topTicks <-chan time.Time

	// embeddedDone, if set (by tests), is called with the URL of demo's
	// embedded server once the demo is over, before the server stops.
	embeddedDone func(url string)
}

// run executes the command line args (without the program name) and
// returns the process exit code. getenv reads the environment (os.Getenv,
// or a fake in tests). Errors are reported on stderr as one line.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp(getenv, stdin, stdout, stderr).execute(ctx, args)
}

func newApp(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{
		getenv: getenv,
		stdin:  stdin,
		stdout: &syncWriter{w: stdout},
		stderr: &syncWriter{w: stderr},
		outTTY: isTerminal(stdout),
	}
}

// execute runs one command line and returns the exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := a.exitCode(err)
	msg := oneLine(err)
	if code == exitUsage {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintln(a.stderr, msg)
	return code
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "redstream",
		Short: "Publish, consume and inspect Redis streams",
		Long: `redstream publishes to, consumes from and inspects Redis streams with
consumer groups, and runs the seed's ticket demo.

Every command but demo and dev-server connects to --redis (default
$REDIS_URL, else ` + defaultRedisURL + `). Without either, demo runs on an
embedded in-memory server; dev-server runs that server on its own, so
several terminals can publish and consume without installing Redis.

A stream's dead letters are kept in the stream "<stream>:dead". Consumers
built with another redstream.DeadLetterSuffix keep them in
"<stream><suffix>": give that suffix as --dead-suffix, and consume, demo,
info, top, dlq and the metrics of --metrics-addr use it.

Exit codes: 0 success, 1 runtime failure, 2 bad usage.`,
		SilenceUsage:  true, // errors are printed once, by run, on one line
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			HiddenDefaultCmd: true,
		},
	}
	root.PersistentFlags().StringVar(&a.redisURL, "redis", "",
		"Redis URL, redis://[user:pass@]host[:port][/db] or rediss:// (default $REDIS_URL)")
	root.PersistentFlags().StringVar(&a.deadSuffix, "dead-suffix", redstream.DefaultDeadLetterSuffix,
		`what is appended to a stream's key to name its dead-letter stream, "<stream><suffix>"`)
	a.addLogFlags(root)
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if a.deadSuffix == "" {
			return usagef("--dead-suffix must not be empty (the default is %q)", redstream.DefaultDeadLetterSuffix)
		}
		return a.setLogger()
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})
	root.SetHelpCommand(helpCmd())
	root.AddCommand(
		a.demoCmd(),
		a.publishCmd(),
		a.consumeCmd(),
		a.infoCmd(),
		a.tailCmd(),
		a.topCmd(),
		a.groupCmd(),
		a.pendingCmd(),
		a.trimCmd(),
		a.dlqCmd(),
		a.scheduledCmd(),
		a.topicCmd(),
		a.benchCmd(),
		a.devServerCmd(),
		a.serveCmd(),
	)
	return root
}

// runE wraps a command's RunE to record that flags and arguments were
// accepted: an error returned before it runs (an unknown flag or command,
// a missing required flag) is bad usage.
func (a *app) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.started = true
		return f(cmd, args)
	}
}

// inspector returns an Inspector of client that names dead-letter
// streams with --dead-suffix.
func (a *app) inspector(client rueidis.Client) *redstream.Inspector {
	return redstream.NewInspector(client, redstream.InspectDeadLetterSuffix(a.deadSuffix))
}

// redis returns the Redis URL to use and whether one was given, by
// --redis or REDIS_URL.
func (a *app) redis(cmd *cobra.Command) (url string, given bool, err error) {
	if f := cmd.Flags().Lookup("redis"); f != nil && f.Changed {
		if strings.TrimSpace(a.redisURL) == "" {
			return "", false, usagef("--redis needs a URL such as %s", defaultRedisURL)
		}
		return a.redisURL, true, nil
	}
	if env := a.getenv("REDIS_URL"); env != "" {
		return env, true, nil
	}
	return "", false, nil
}

// connect dials the Redis server the command should use. The caller
// closes the client.
func (a *app) connect(cmd *cobra.Command) (rueidis.Client, error) {
	url, given, err := a.redis(cmd)
	if err != nil {
		return nil, err
	}
	if !given {
		url = defaultRedisURL
	}
	return dial(cmd.Context(), url, false)
}

// dial connects to url; embedded marks the embedded server, which needs
// the single-node client.
func dial(ctx context.Context, url string, embedded bool) (rueidis.Client, error) {
	opts := []redstream.DialOption{redstream.ClientName("redstream-cli")}
	if embedded {
		opts = append(opts, redstream.Standalone())
	}
	c, err := redstream.Dial(ctx, url, opts...)
	if err != nil && errors.Is(err, context.Canceled) {
		return nil, errInterrupted
	}
	return c, err
}

// errInterrupted reports a command stopped by SIGINT or SIGTERM before it
// finished its work.
var errInterrupted = errors.New("interrupted")

// exitCode maps an error returned by cobra to the process exit code.
func (a *app) exitCode(err error) int {
	var ue *usageError
	switch {
	case !a.started, errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, redstream.ErrInvalidURL), errors.Is(err, redstream.ErrInvalidOption):
		return exitUsage
	}
	return exitFailure
}

// usageError marks an error as bad usage (exit code 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// cliError replaces the text of an error with a clearer one for the user
// while errors.Is and errors.As still see the original.
type cliError struct {
	msg string
	err error
}

func (e *cliError) Error() string { return e.msg }
func (e *cliError) Unwrap() error { return e.err }

// describe rewrites the library errors a user meets most often into
// plain sentences about stream; others pass unchanged.
func describe(err error, stream string) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, redstream.ErrBeyondEnd):
		// A position the user chose: bad usage, not a failure.
		return &usageError{err: &cliError{msg: startBeyondEnd(err, stream), err: err}}
	case errors.Is(err, redstream.ErrNoStream):
		return &cliError{msg: fmt.Sprintf("stream %s does not exist", nameText(stream)), err: err}
	case errors.Is(err, redstream.ErrNotStream):
		what := ""
		var re *redstream.Error
		if errors.As(err, &re) && re.Err != nil && strings.HasPrefix(re.Err.Error(), "it holds") {
			what = " (" + re.Err.Error() + ")"
		}
		return &cliError{msg: fmt.Sprintf("key %s is not a stream%s", nameText(stream), what), err: err}
	case errors.Is(err, redstream.ErrNoPermission):
		return &cliError{msg: noPermission(err, stream), err: err}
	case errors.Is(err, context.Canceled):
		return &cliError{msg: errInterrupted.Error(), err: err}
	}
	return err
}

// noPermission says which operation on which key the Redis user may not
// do, with the server's reply naming the command, and where the ACL a
// command needs is listed.
func noPermission(err error, stream string) string {
	op, key, reply := "", stream, err.Error()
	var re *redstream.Error
	if errors.As(err, &re) {
		op, reply = " for "+re.Op, errText(re.Err)
		if re.Key != "" {
			key = re.Key
		}
	}
	return fmt.Sprintf("permission denied%s on %s: %s; grant it with ACL SETUSER (see \"Least privilege\" in the README)", op, nameText(key), reply)
}

// startBeyondEnd says why a group start beyond the stream's end was
// refused, and how to place a group there anyway.
func startBeyondEnd(err error, stream string) string {
	why := err.Error()
	var re *redstream.Error
	if errors.As(err, &re) && re.Err != nil {
		why = re.Err.Error()
	}
	return fmt.Sprintf("stream %s: %s; not done (create the group at $, then move it with group setid --force, if that is meant)", nameText(stream), why)
}

func errText(err error) string {
	if err == nil {
		return "no reason given"
	}
	return err.Error()
}

// oneLine formats err as the single "redstream: ..." line run prints.
func oneLine(err error) string {
	msg := err.Error()
	// cobra appends suggestions on lines of their own.
	if head, sugg, ok := strings.Cut(msg, "\n\nDid you mean this?\n"); ok {
		msg = head + " (did you mean " + strings.Join(strings.Fields(sugg), " or ") + "?)"
	}
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
	if !strings.HasPrefix(msg, "redstream: ") {
		msg = "redstream: " + msg
	}
	return msg
}

// syncWriter serializes writes, so concurrent handlers, the progress bar
// and loggers never interleave within a line.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

// isTerminal reports whether x is a file open on a terminal (a character
// device), such as an interactive stdin or stdout.
func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
