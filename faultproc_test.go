package redstream_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redstream-go/redstream"
)

// The fault tests run consumers as real OS processes: the test binary
// starts itself again with REDSTREAM_FAULT_ROLE set, and TestMain hands
// over to runFaultProcess instead of running tests.
const faultRoleEnv = "REDSTREAM_FAULT_ROLE"

// runFaultProcess is a consumer process for the fault tests. It records
// each entry it handles with HINCRBY on "<stream>:handled" before
// returning nil, so the test can count handlings, duplicates included.
func runFaultProcess() int {
	if os.Getenv(faultRoleEnv) == "topic-consumer" {
		return runTopicProcess()
	}
	url, stream, group, name := os.Getenv("REDSTREAM_URL"), os.Getenv("REDSTREAM_STREAM"), os.Getenv("REDSTREAM_GROUP"), os.Getenv("REDSTREAM_NAME")
	work, _ := time.ParseDuration(os.Getenv("REDSTREAM_WORK"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client, err := redstream.Dial(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer client.Close()
	handled := stream + ":handled"
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if work > 0 {
			time.Sleep(work)
		}
		return client.Do(ctx, client.B().Hincrby().Key(handled).Field(m.ID).Increment(1).Build()).Error()
	})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cons, err := redstream.NewConsumer(client, stream, group, h,
		redstream.Name(name),
		redstream.Concurrency(8),
		redstream.AckBatch(64),
		redstream.ClaimMinIdle(time.Second),
		redstream.ClaimInterval(200*time.Millisecond),
		redstream.DeleteIdleConsumers(3*time.Second),
		redstream.RetryBackoff(50*time.Millisecond, 500*time.Millisecond),
		redstream.WithLogger(log),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := cons.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(os.Stderr, "handled", strconv.FormatInt(cons.Stats().Handled, 10))
	return 0
}

// runTopicProcess is a topic consumer process for the fault tests. For
// each event it appends the event's seq to the list "seen:<topic>:<key>"
// before returning nil, so the test can check each key's order.
func runTopicProcess() int {
	url, topic, name := os.Getenv("REDSTREAM_URL"), os.Getenv("REDSTREAM_TOPIC"), os.Getenv("REDSTREAM_NAME")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	client, err := redstream.Dial(ctx, url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer client.Close()
	top, err := redstream.OpenTopic(ctx, client, topic)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		k := "seen:" + topic + ":" + m.Value(redstream.KeyField)
		return client.Do(ctx, client.B().Rpush().Key(k).Element(m.Value("seq")).Build()).Error()
	})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	tc, err := redstream.NewTopicConsumer(client, top, "g", h, redstream.Name(name), redstream.Lease(time.Second),
		redstream.Block(200*time.Millisecond), redstream.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := tc.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
