// Command consumer is the seed article's ticket consumer on redstream. Run
// several: they join the group "tickets-consumer-group" and share the
// tickets. Each ticket takes -work (100ms, as in the article) and up to
// -concurrency tickets are handled at once. Ctrl-C stops it gracefully:
// tickets in progress finish and are acknowledged.
//
//	go run ./examples/tickets/consumer -redis redis://localhost:6379 -name consumer-1
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redstream-go/redstream"
)

func main() {
	url := flag.String("redis", envOr("REDIS_URL", "redis://127.0.0.1:6379"), "Redis URL")
	name := flag.String("name", "", "consumer name; a stable name resumes its pending tickets after a restart (default: unique per process)")
	work := flag.Duration("work", 100*time.Millisecond, "simulated work per ticket")
	concurrency := flag.Int("concurrency", 10, "tickets handled at once")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *name, *work, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url, name string, work time.Duration, concurrency int) error {
	client, err := redstream.Dial(ctx, url)
	if err != nil {
		return err
	}
	defer client.Close()
	opts := []redstream.ConsumerOption{
		redstream.Concurrency(concurrency),
		redstream.StartID("0"), // a new group starts with the tickets already published
		redstream.WithLogger(slog.Default()),
	}
	if name != "" {
		opts = append(opts, redstream.Name(name))
	}
	cons, err := redstream.NewConsumer(client, "tickets", "tickets-consumer-group", handleTicket(work), opts...)
	if err != nil {
		return err
	}
	slog.Info("consumer started", "consumer", cons.Name())
	err = cons.Run(ctx)
	slog.Info("consumer stopped", "handled", cons.Stats().Handled)
	return err
}

// handleTicket handles a "ticket received" event like the seed's
// handleNewTicket, with simulated work; other events are acknowledged
// and skipped, as the seed did.
func handleTicket(work time.Duration) redstream.Handler {
	return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("whatHappened") != "ticket received" {
			return nil
		}
		slog.Info("handling new ticket", "ticketID", m.Value("ticketID"), "data", m.Value("ticketData"))
		select {
		case <-time.After(work):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
