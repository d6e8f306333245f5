package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

// topicCmd manages partitioned topics: create, info, delete.
func (a *app) topicCmd() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, inspect and delete partitioned topics",
		Long: `A topic is a stream split into partitions: one hash-tagged stream per
partition, spread evenly over the masters of a Redis Cluster. Events of one
key go to one partition and are handled in order by the group's consumers,
which divide the partitions among themselves.`,
		Args: cobra.NoArgs,
	}
	cmd.PersistentFlags().StringVar(&name, "topic", "", "the topic (required)")
	_ = cmd.MarkPersistentFlagRequired("topic")

	var partitions int
	create := &cobra.Command{
		Use:   "create --topic T --partitions N",
		Short: "Create a topic with N partitions (fixed for its life)",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if partitions < 1 || partitions > redstream.MaxPartitions {
				return usagef("--partitions must be between 1 and %d, got %d", redstream.MaxPartitions, partitions)
			}
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			t, err := redstream.CreateTopic(c.Context(), client, name, partitions)
			if err != nil {
				if isInvalid(err) {
					return &usageError{err: err}
				}
				return err
			}
			fmt.Fprintf(a.stdout, "topic %s: %d partitions\n", nameText(t.Name), t.Partitions())
			for i, s := range t.Streams() {
				fmt.Fprintf(a.stdout, "  %d  %s\n", i, nameText(s))
			}
			return nil
		}),
	}
	create.Flags().IntVar(&partitions, "partitions", 0, "how many partitions (required)")
	_ = create.MarkFlagRequired("partitions")

	var asJSON bool
	info := &cobra.Command{
		Use:   "info --topic T [--json]",
		Short: "Show each partition's stream, node, owner per group, lag and pending",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			ti, err := redstream.NewInspector(client).Topic(c.Context(), name)
			if err != nil {
				return topicErr(err, name)
			}
			if asJSON {
				return writeJSON(a.stdout, ti, "  ")
			}
			return writeTopicInfo(a.stdout, ti)
		}),
	}
	info.Flags().BoolVar(&asJSON, "json", false, "print the topic's state as JSON")

	var yes bool
	del := &cobra.Command{
		Use:   "delete --topic T --yes",
		Short: "Delete a topic: its partitions, their dead letters and its metadata",
		Args:  cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			if !yes {
				return usagef("topic delete removes every event of the topic for good; add --yes to do it")
			}
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			if err := redstream.DeleteTopic(c.Context(), client, name); err != nil {
				return topicErr(err, name)
			}
			fmt.Fprintf(a.stdout, "deleted topic %s\n", nameText(name))
			return nil
		}),
	}
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")

	subcommands(cmd)
	cmd.AddCommand(create, info, del)
	return cmd
}

func isInvalid(err error) bool { return errors.Is(err, redstream.ErrInvalidOption) }

func topicErr(err error, name string) error {
	if errors.Is(err, redstream.ErrNoTopic) {
		return &cliError{msg: fmt.Sprintf("topic %s does not exist", nameText(name)), err: err}
	}
	return describe(err, name)
}

func writeTopicInfo(w io.Writer, ti *redstream.TopicInfo) error {
	fmt.Fprintf(w, "topic %s: %d partitions, groups: %v\n\n", nameText(ti.Topic), len(ti.Partitions), quoteNames(ti.Groups))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tSTREAM\tNODE\tLENGTH\tGROUP\tOWNER\tLEASE LEFT\tLAG\tPENDING")
	for _, p := range ti.Partitions {
		node := orNone(p.Node)
		if len(p.Groups) == 0 {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t-\t-\t-\t-\t-\n", p.Partition, nameText(p.Stream), node, p.Length)
			continue
		}
		for _, g := range p.Groups {
			left := "-"
			if g.Owner != "" {
				left = roundDuration(g.LeaseLeft).String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", p.Partition, nameText(p.Stream), node, p.Length, nameText(g.Group), orNone(g.Owner), left, lagText(g.Lag), g.Pending)
		}
	}
	return tw.Flush()
}
