// Command redstream publishes to, consumes from and inspects Redis
// streams, runs the seed's ticket demo, and serves an in-memory
// Redis-compatible server for trying it all without installing Redis.
//
// Run "redstream --help" for the commands. Exit codes: 0 success, 1 a
// runtime failure (Redis unreachable, a missing stream, ...), 2 bad usage.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// gcPercent is the garbage collector's target unless $GOGC says otherwise.
// The CLI holds little (a read's entries, a batch of output), so letting
// the heap grow a few times that before collecting costs a few MB and
// saves much of the CPU a collection per read would take from `consume`.
const gcPercent = 400

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal asks for a graceful shutdown; once it has arrived,
	// a second one gets the default behaviour and ends the process at once.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
