package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamprom"
)

// addTopicConsumeFlags adds consume's --topic flag.
func addTopicConsumeFlags(cmd *cobra.Command) {
	cmd.Flags().String("topic", "", "the topic to consume, instead of a stream")
}

// consumeTopic is consume --topic T: it runs a TopicConsumer in group
// --group that prints each event as consume prints entries and
// acknowledges it, until SIGINT or SIGTERM (or --max events).
func (a *app) consumeTopic(cmd *cobra.Command) error {
	f := cmd.Flags()
	topic, _ := f.GetString("topic")
	group, _ := f.GetString("group")
	name, _ := f.GetString("consumer")
	from, _ := f.GetString("from")
	metricsAddr, _ := f.GetString("metrics-addr")
	concurrency, _ := f.GetInt("concurrency")
	max, _ := f.GetInt("max")
	asJSON, _ := f.GetBool("json")
	switch {
	case f.Changed("stream"):
		return usagef("give --stream S or --topic T, not both")
	case topic == "":
		return usagef("--topic must not be empty")
	}
	concurrency, err := checkConsumeFlags(group, from, metricsAddr, concurrency, max)
	if err != nil {
		return err
	}
	opts := []redstream.TopicConsumerOption{
		redstream.Concurrency(concurrency),
		// Printing an event cannot fail because of the event: never move
		// one to a dead-letter stream.
		redstream.MaxDeliveries(0),
		redstream.DeadLetterSuffix(a.deadSuffix),
		redstream.WithLogger(a.log()),
	}
	if f.Changed("consumer") {
		opts = append(opts, redstream.Name(name))
	}
	if f.Changed("from") {
		opts = append(opts, redstream.StartID(from))
	}

	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	gate := &maxGate{max: int64(max), stop: stop}
	handler := redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		if !gate.take(m) {
			// Not printed, not acknowledged: it stays pending for the
			// group, in its key's order.
			return errOverMax
		}
		line := textLine(m)
		if asJSON {
			line = jsonLine(m)
		}
		if _, err := a.stdout.Write(line); err != nil {
			return fmt.Errorf("write output: %w", err) // not printed: retried in order
		}
		return nil
	})

	client, err := a.connect(cmd)
	if err != nil {
		return err
	}
	defer client.Close()
	t, err := redstream.OpenTopic(ctx, client, topic)
	if err != nil {
		if isInvalid(err) {
			return &usageError{err: err}
		}
		return topicErr(err, topic)
	}
	if metricsAddr != "" {
		m, err := redstreamprom.NewMetrics()
		if err != nil {
			return err
		}
		srv, err := a.serveMetrics(metricsAddr, client, m, t.Streams()...)
		if err != nil {
			return err
		}
		defer srv.Stop()
		opts = append(opts, redstream.WithMetrics(m))
	}
	tc, err := redstream.NewTopicConsumer(client, t, group, handler, opts...)
	if err != nil {
		return err // an invalid option or name: exit code 2
	}
	fmt.Fprintf(a.stderr, "consuming topic %s (%d partitions) in group %s as consumer %s; Ctrl-C stops\n",
		nameText(topic), t.Partitions(), nameText(group), nameText(tc.Name()))
	if err := tc.Run(ctx); err != nil {
		return topicErr(err, topic)
	}
	fmt.Fprintf(a.stderr, "stopped: consumer %s handled and acknowledged %d events%s\n",
		nameText(tc.Name()), tc.Stats().Handled, gate.leftNote("event", "events"))
	return nil
}
