package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
)

const (
	topicDemoTopic = "tickets-topic"
	topicDemoGroup = "tickets-topic-group"
)

// topicDemo is the partitioned-topic variant of the demo: tickets belong
// to customers (keys); each customer's tickets must be handled in the
// order they were published while consumers join and leave.
type topicDemo struct {
	tickets, consumers, partitions, keys int
	work                                 time.Duration
}

func (a *app) topicDemo(cmd *cobra.Command, td topicDemo) error {
	ctx := cmd.Context()
	client, closeServer, err := a.demoServer(cmd)
	if err != nil {
		return err
	}
	defer closeServer()
	top, err := redstream.CreateTopic(ctx, client, topicDemoTopic, td.partitions)
	if err != nil {
		return fmt.Errorf("%w (delete it with: redstream topic delete --topic %s --yes)", err, topicDemoTopic)
	}
	// A rerun on a real server starts clean: nothing of an earlier run is
	// handled, so every customer's sequence starts at 0.
	if err := redstream.DeleteTopic(ctx, client, topicDemoTopic); err != nil {
		return err
	}
	if top, err = redstream.CreateTopic(ctx, client, topicDemoTopic, td.partitions); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "topic %s: %d partitions; %d tickets of %d customers; customers' tickets must stay in order while consumers come and go\n",
		topicDemoTopic, td.partitions, td.tickets, td.keys)

	var mu sync.Mutex
	seqs := map[string][]int{} // customer -> sequence numbers handled
	perConsumer := map[string]int{}
	handler := func(name string) redstream.Handler {
		return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
			if td.work > 0 {
				select {
				case <-time.After(td.work):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			seq, _ := strconv.Atoi(m.Value("seq"))
			mu.Lock()
			k := m.Value(redstream.KeyField)
			seqs[k] = append(seqs[k], seq)
			perConsumer[name]++
			mu.Unlock()
			return nil
		})
	}
	type running struct {
		tc   *redstream.TopicConsumer
		done chan error
	}
	var runs []running
	start := func(i int) {
		name := "topic-consumer-" + strconv.Itoa(i)
		tc, err := redstream.NewTopicConsumer(client, top, topicDemoGroup, handler(name), redstream.Name(name),
			redstream.Lease(time.Second), redstream.Block(100*time.Millisecond),
			redstream.DeadLetterSuffix(a.deadSuffix), redstream.WithLogger(a.log()))
		if err != nil {
			return
		}
		r := running{tc: tc, done: make(chan error, 1)}
		go func() { r.done <- tc.Run(context.WithoutCancel(ctx)) }()
		runs = append(runs, r)
		fmt.Fprintf(a.stdout, "  + %s joins\n", name)
	}
	for i := range td.consumers {
		start(i + 1)
	}
	defer func() {
		for _, r := range runs {
			r.tc.Close()
		}
	}()

	// Publish in ten waves; after the third a consumer joins, after the
	// seventh one leaves, so partitions move while tickets flow.
	p, _ := redstream.NewPublisher(client)
	next := make([]int, td.keys)
	began := time.Now()
	for wave := range 10 {
		n := td.tickets / 10
		if wave == 9 {
			n = td.tickets - 9*(td.tickets/10)
		}
		batch := make([]redstream.KeyedEntry, 0, n)
		for i := range n {
			k := (wave*(td.tickets/10) + i) % td.keys
			batch = append(batch, redstream.KeyedEntry{
				Key: "customer-" + strconv.Itoa(k),
				Fields: redstream.Fields("whatHappened", "ticket received", "ticketID", strconv.Itoa(wave*100000+i),
					"ticketData", "some ticket data", "seq", strconv.Itoa(next[k])),
			})
			next[k]++
		}
		if _, err := p.PublishTopic(ctx, top, batch...); err != nil {
			return describe(err, topicDemoTopic)
		}
		switch wave {
		case 3:
			start(td.consumers + 1)
		case 7:
			leaving := runs[0]
			if err := leaving.tc.Shutdown(ctx); err == nil {
				<-leaving.done
				fmt.Fprintf(a.stdout, "  - %s leaves\n", leaving.tc.Name())
			}
			runs = runs[1:]
		}
		time.Sleep(100 * time.Millisecond)
	}
	handled := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range seqs {
			n += len(s)
		}
		return n
	}
	prog := startProgress(a.stdout, a.outTTY, "tickets", int64(td.tickets), began)
	deadline := time.Now().Add(time.Duration(td.tickets/max(td.keys, 1)+10)*(td.work+50*time.Millisecond) + 30*time.Second)
	for handled() < td.tickets && time.Now().Before(deadline) && ctx.Err() == nil {
		prog.Set(int64(handled()))
		time.Sleep(20 * time.Millisecond)
	}
	prog.Set(int64(handled()))
	prog.Finish()
	if ctx.Err() != nil {
		return errInterrupted
	}

	// Check every customer's order: 0, 1, 2, ... with at most a repeat of
	// the one just handled (a handover after handling, before the ack).
	mu.Lock()
	defer mu.Unlock()
	repeats := 0
	for k := range td.keys {
		got := seqs["customer-"+strconv.Itoa(k)]
		want := 0
		for i, s := range got {
			switch {
			case s == want:
				want++
			case i > 0 && s == got[i-1] && s == want-1:
				repeats++
			default:
				return fmt.Errorf("customer-%d's tickets were handled out of order: %d after %v", k, s, got[max(0, i-3):i])
			}
		}
		if want != next[k] {
			return fmt.Errorf("customer-%d: %d of %d tickets handled in %v", k, want, next[k], time.Since(began).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(a.stdout, "handled all %d tickets in %v; every customer's tickets in publish order (%d repeated once after a handover)\n",
		td.tickets, roundDuration(time.Since(began)), repeats)
	names := make([]string, 0, len(perConsumer))
	for n := range perConsumer {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(a.stdout, "  %-17s %5d tickets\n", n, perConsumer[n])
	}
	return nil
}
