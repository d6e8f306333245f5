// Command publisher is the seed article's ticket publisher on redstream:
// it sends "ticket received" events to the stream "tickets" in exactly the
// article's format, in pipelined batches instead of one round trip each.
//
//	go run ./examples/tickets/publisher -redis redis://localhost:6379 -n 3000
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redstream-go/redstream"
)

func main() {
	url := flag.String("redis", envOr("REDIS_URL", "redis://127.0.0.1:6379"), "Redis URL")
	n := flag.Int("n", 3000, "how many tickets to publish")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *n); err != nil {
		fmt.Fprintln(os.Stderr, "publisher:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, n int) error {
	client, err := redstream.Dial(ctx, url)
	if err != nil {
		return err
	}
	defer client.Close()
	pub, err := redstream.NewPublisher(client)
	if err != nil {
		return err
	}
	start := time.Now()
	entries := make([]redstream.Entry, n)
	for i := range entries {
		entries[i] = redstream.Entry{Stream: "tickets", Fields: Ticket(rand.IntN(100000000))}
	}
	if _, err := pub.PublishBatch(ctx, entries); err != nil {
		return err
	}
	fmt.Printf("published %d tickets to stream tickets in %v\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// Ticket returns the fields of one "ticket received" event, in the order
// the seed article's go-redis publisher wrote them.
func Ticket(id int) []redstream.Field {
	return redstream.Fields(
		"whatHappened", "ticket received",
		"ticketID", strconv.Itoa(id),
		"ticketData", "some ticket data",
	)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
