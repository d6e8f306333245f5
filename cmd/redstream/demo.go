package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/devserver"
	"github.com/redstream-go/redstream/redstreamprom"
)

// The seed scenario: a publisher sends "ticket received" events to stream
// tickets; consumers in group tickets-consumer-group handle them.
const (
	demoStream = "tickets"
	demoGroup  = "tickets-consumer-group"
	// demoWhat is the seed's whatHappened value; handlers count only these.
	demoWhat = "ticket received"
	// demoTicketIDs bounds the seed's random ticket IDs: rand.Intn(100000000).
	demoTicketIDs = 100000000

	demoEmbeddedNote = "using an embedded in-memory Redis (nothing is persisted); pass --redis URL to use a real server"
	// demoBlock bounds each consumer's XREADGROUP wait, and so how long
	// the shutdown after the last ticket takes.
	demoBlock = 100 * time.Millisecond
)

func (a *app) demoCmd() *cobra.Command {
	var (
		tickets, consumers, concurrency int
		partitions, keys                int
		work                            time.Duration
		metricsAddr                     string
	)
	cmd := &cobra.Command{
		Use:   "demo [--tickets N] [--consumers N] [--work D] [--concurrency N]",
		Short: "Run the seed's ticket scenario: publish tickets, consumers in a group share the work",
		Long: `demo runs the seed scenario. A publisher appends --tickets "ticket received"
events to stream ` + demoStream + ` (fields whatHappened, ticketID, ticketData, in that
order), and --consumers consumers in group ` + demoGroup + ` share them,
each handling up to --concurrency tickets at once, each ticket taking
--work. It shows the progress, then how many tickets each consumer handled,
how long it took, and how long one seed-style consumer would have needed.

Without --redis or REDIS_URL it runs on an embedded in-memory server that
is gone when demo ends. On a real server the group may exist from an
earlier run: demo then counts only the tickets it publishes itself.

It exits 0 only when every ticket it published was handled and
acknowledged (checked against the group's pending entries at the end).`,
		Example: "  redstream demo\n  redstream demo --tickets 300 --work 10ms\n  redstream demo --redis redis://127.0.0.1:6379",
		Args:    cobra.NoArgs,
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			for _, err := range []error{
				checkRange("tickets", tickets, 1, maxTickets),
				checkRange("consumers", consumers, 1, maxConsumers),
				checkRange("concurrency", concurrency, 1, maxConcurrency),
				checkRange("work", work, 0, maxWork),
			} {
				if err != nil {
					return err
				}
			}
			if err := checkMetricsAddr(metricsAddr); err != nil {
				return err
			}
			if cmd.Flags().Changed("partitions") || cmd.Flags().Changed("keys") {
				if err := checkRange("partitions", partitions, 1, redstream.MaxPartitions); err != nil {
					return err
				}
				if err := checkRange("keys", keys, 1, maxKeys); err != nil {
					return err
				}
				return a.topicDemo(cmd, topicDemo{tickets: tickets, consumers: consumers, partitions: partitions, keys: keys, work: work})
			}
			d := &demo{
				app: a, tickets: tickets, consumers: consumers,
				concurrency: concurrency, work: work, metricsAddr: metricsAddr,
			}
			return d.run(cmd)
		}),
	}
	f := cmd.Flags()
	f.IntVar(&tickets, "tickets", 3000, "how many tickets to publish (1 to 10000000)")
	f.IntVar(&consumers, "consumers", 5, "how many consumers share the tickets (1 to 1000)")
	f.DurationVar(&work, "work", 100*time.Millisecond, "how long handling one ticket takes, a timer (0 to 1h)")
	f.IntVar(&concurrency, "concurrency", redstream.DefaultConcurrency, "how many tickets each consumer handles at once (1 to 10000)")
	f.StringVar(&metricsAddr, "metrics-addr", "", metricsAddrUsage)
	f.IntVar(&partitions, "partitions", 12, "with --keys or set: run the partitioned-topic demo with this many partitions (1 to 1024)")
	f.IntVar(&keys, "keys", 100, "with --partitions or set: how many customers (keys) the tickets belong to (1 to 1000000)")
	return cmd
}

// demo is one run of the demo command.
type demo struct {
	*app
	tickets, consumers, concurrency int
	work                            time.Duration
	metricsAddr                     string
	metrics                         redstream.Metrics // NopMetrics without --metrics-addr

	names []string // consumer names, demo-consumer-1..N

	mu        sync.Mutex
	handledBy map[string]int  // ticket ID -> the consumer that handled it first
	want      map[string]bool // IDs this run published so far
	published bool            // every ticket is published: want is complete
	perCons   []int64         // this run's tickets handled, per consumer
	done      atomic.Int64    // this run's tickets handled
	complete  chan struct{}   // closed when every ticket of this run is handled
	once      sync.Once
}

func (d *demo) run(cmd *cobra.Command) error {
	ctx := cmd.Context()
	client, closeServer, err := d.demoServer(cmd)
	if err != nil {
		return err
	}
	defer closeServer()
	d.metrics = redstream.NopMetrics{}
	if d.metricsAddr != "" {
		m, err := redstreamprom.NewMetrics()
		if err != nil {
			return err
		}
		srv, err := d.serveMetrics(d.metricsAddr, client, m, demoStream)
		if err != nil {
			return err
		}
		defer srv.Stop()
		d.metrics = m
	}

	existed, err := d.prepareGroup(ctx, client)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.stdout, "%d consumers in group %s share stream %s; each handles up to %d tickets at once, %v of work per ticket\n",
		d.consumers, demoGroup, demoStream, d.concurrency, d.work)
	if existed {
		fmt.Fprintf(d.stdout, "group %s exists from an earlier run: counting only the %d tickets this run publishes\n", demoGroup, d.tickets)
	}

	d.names = make([]string, d.consumers)
	d.perCons = make([]int64, d.consumers)
	d.handledBy = make(map[string]int, d.tickets)
	d.want = make(map[string]bool, d.tickets)
	d.complete = make(chan struct{})

	runCtx, stopConsumers := context.WithCancel(ctx)
	defer stopConsumers()
	cons := make([]*redstream.Consumer, d.consumers)
	logger := d.log()
	for i := range cons {
		d.names[i] = "demo-consumer-" + strconv.Itoa(i+1)
		c, err := redstream.NewConsumer(client, demoStream, demoGroup, d.handler(i),
			redstream.Name(d.names[i]),
			redstream.Concurrency(d.concurrency),
			redstream.Block(demoBlock),
			redstream.DeadLetterSuffix(d.deadSuffix),
			redstream.WithLogger(logger),
			redstream.WithMetrics(d.metrics),
		)
		if err != nil {
			return err
		}
		cons[i] = c
	}
	runErrs := make(chan error, len(cons))
	var running sync.WaitGroup
	for _, c := range cons {
		running.Add(1)
		go func() {
			defer running.Done()
			err := c.Run(runCtx)
			if err != nil && runCtx.Err() != nil && errors.Is(err, context.Canceled) {
				// Run started after the demo was over (the tickets went
				// fast) and gave up joining the group: nothing was lost.
				err = nil
			}
			if err != nil {
				runErrs <- fmt.Errorf("consumer %s: %w", c.Name(), err)
			}
		}()
	}
	// However this ends, the consumers stop gracefully: the tickets in
	// hand finish and are acknowledged.
	stopAll := func() {
		stopConsumers()
		running.Wait()
	}

	start := time.Now()
	first, last, err := d.publish(ctx, client)
	if err != nil {
		stopAll()
		return describe(err, demoStream)
	}
	fmt.Fprintf(d.stdout, "published %d tickets to stream %s in %v\n", d.tickets, demoStream, roundDuration(time.Since(start)))

	prog := startProgress(d.stdout, d.outTTY, "tickets", int64(d.tickets), start)
	waitErr := d.wait(ctx, prog, runErrs)
	elapsed := time.Since(start)
	prog.Set(d.done.Load())
	prog.Finish()
	stopAll()
	close(runErrs)
	for err := range runErrs {
		waitErr = errors.Join(waitErr, err)
	}
	if waitErr != nil {
		if errors.Is(waitErr, context.Canceled) {
			waitErr = errInterrupted
		}
		return fmt.Errorf("demo: %w; %s", describe(waitErr, demoStream), d.shortfall())
	}
	return d.verify(client, first, last, elapsed)
}

// demoServer connects to --redis, or starts the embedded server and says
// so. The returned function closes the client and the embedded server.
func (a *app) demoServer(cmd *cobra.Command) (rueidis.Client, func(), error) {
	redisURL, given, err := a.redis(cmd)
	if err != nil {
		return nil, nil, err
	}
	stopServer := func() {}
	if !given {
		srv, err := devserver.Start("127.0.0.1:0")
		if err != nil {
			return nil, nil, fmt.Errorf("start the embedded server: %w", err)
		}
		stopServer = func() {
			if a.embeddedDone != nil {
				a.embeddedDone(srv.URL())
			}
			srv.Close()
		}
		redisURL = srv.URL()
		fmt.Fprintln(a.stdout, demoEmbeddedNote)
	} else {
		// Check the URL before saying where we go, so a bad one is reported as such.
		if _, err := redstream.ParseURL(redisURL); err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(a.stdout, "using Redis at %s\n", redacted(redisURL))
	}
	client, err := dial(cmd.Context(), redisURL, !given)
	if err != nil {
		stopServer()
		return nil, nil, err
	}
	return client, func() {
		client.Close()
		stopServer()
	}, nil
}

// prepareGroup creates the group at "$" (and the stream, if missing)
// before anything is published, so no ticket of this run is missed. It
// reports whether the group existed already; a key of another type is an
// error.
func (d *demo) prepareGroup(ctx context.Context, client rueidis.Client) (existed bool, err error) {
	err = d.inspector(client).CreateGroup(ctx, demoStream, demoGroup, "$", true)
	switch {
	case errors.Is(err, redstream.ErrGroupExists):
		return true, nil
	case err != nil:
		return false, describe(err, demoStream)
	}
	return false, nil
}

// handler returns consumer i's handler: like the seed's, it works only on
// "ticket received" events, and every entry is acknowledged.
func (d *demo) handler(i int) redstream.Handler {
	return redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("whatHappened") != demoWhat {
			return nil
		}
		if d.work > 0 {
			t := time.NewTimer(d.work)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err() // the consumer was closed: leave it pending
			}
		}
		d.handled(i, m.ID)
		return nil
	})
}

// handled records that consumer i handled the ticket id.
func (d *demo) handled(i int, id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, seen := d.handledBy[id]; seen {
		return // delivered again: count it once
	}
	d.handledBy[id] = i
	if d.want[id] {
		d.count(i)
	}
}

// count credits consumer i with one ticket of this run. d.mu is held.
func (d *demo) count(i int) {
	d.perCons[i]++
	if n := d.done.Add(1); d.published && n == int64(len(d.want)) {
		d.once.Do(func() { close(d.complete) })
	}
}

// publish sends the tickets in the seed's format, in batches, and returns
// the first and last IDs.
func (d *demo) publish(ctx context.Context, client rueidis.Client) (first, last string, err error) {
	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(d.metrics))
	if err != nil {
		return "", "", err
	}
	batch := make([]redstream.Entry, 0, min(d.tickets, publishBatch))
	for n := 1; n <= d.tickets; n++ {
		batch = append(batch, redstream.Entry{Stream: demoStream, Fields: redstream.Fields(
			"whatHappened", demoWhat,
			"ticketID", strconv.Itoa(rand.IntN(demoTicketIDs)),
			"ticketData", "some ticket data",
		)})
		if len(batch) < publishBatch && n < d.tickets {
			continue
		}
		ids, err := pub.PublishBatch(ctx, batch)
		if err != nil {
			return "", "", err
		}
		if first == "" {
			first = ids[0]
		}
		last = ids[len(ids)-1]
		d.mu.Lock()
		for _, id := range ids {
			d.want[id] = true
			if i, ok := d.handledBy[id]; ok { // handled before PublishBatch returned
				d.count(i)
			}
		}
		d.mu.Unlock()
		batch = batch[:0]
	}
	d.mu.Lock()
	d.published = true
	if d.done.Load() == int64(len(d.want)) {
		d.once.Do(func() { close(d.complete) })
	}
	d.mu.Unlock()
	return first, last, nil
}

// wait returns when every ticket is handled, or with an error when ctx
// ends, a consumer fails, or nothing has been handled for too long
// (another consumer of the group may be taking the tickets).
func (d *demo) wait(ctx context.Context, prog *progress, runErrs <-chan error) error {
	stallAfter := 10*time.Second + 2*d.work
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := int64(-1), time.Now()
	for {
		select {
		case <-d.complete:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case err := <-runErrs:
			return err
		case now := <-tick.C:
			n := d.done.Load()
			prog.Set(n)
			if n != last {
				last, lastAt = n, now
			} else if now.Sub(lastAt) > stallAfter {
				return fmt.Errorf("no ticket handled for %v (is another consumer of group %s taking them?)", roundDuration(stallAfter), demoGroup)
			}
		}
	}
}

// shortfall says how many tickets were not handled.
func (d *demo) shortfall() string {
	return fmt.Sprintf("%d of %d tickets handled", d.done.Load(), d.tickets)
}

// verify checks against Redis that every ticket of this run was handled
// and acknowledged, and prints the summary.
func (d *demo) verify(client rueidis.Client, first, last string, elapsed time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The pending entries from first on, up to the first beyond last.
	in := d.inspector(client)
	end, _ := redstream.ParseID(last)
	pending := 0
	for start := first; start != ""; {
		page, next, err := in.Pending(ctx, demoStream, demoGroup, start, int64(min(len(d.want), 1000)), "")
		if err != nil {
			return fmt.Errorf("demo: check pending entries: %w", err)
		}
		for _, p := range page {
			if d.want[p.ID] {
				pending++
			}
		}
		if len(page) > 0 {
			if id, err := redstream.ParseID(page[len(page)-1].ID); err != nil || id.Compare(end) >= 0 {
				break
			}
		}
		start = next
	}
	missing := 0
	for id := range d.want {
		if _, ok := d.handledBy[id]; !ok {
			missing++
		}
	}
	if missing > 0 || pending > 0 {
		return fmt.Errorf("demo: %d of %d tickets were not handled and %d are still pending in group %s", missing, d.tickets, pending, demoGroup)
	}

	fmt.Fprintf(d.stdout, "handled all %d tickets in %v; every one acknowledged (none pending in group %s)\n",
		d.tickets, roundDuration(elapsed), demoGroup)
	nameW, countW := 0, len(strconv.Itoa(d.tickets))
	for _, name := range d.names {
		nameW = max(nameW, len(name))
	}
	for i, name := range d.names {
		fmt.Fprintf(d.stdout, "  %-*s  %*d tickets\n", nameW, name, countW, d.perCons[i])
	}
	if extra := len(d.handledBy) - len(d.want); extra > 0 {
		fmt.Fprintf(d.stdout, "also handled %d tickets left over from earlier runs\n", extra)
	}
	seed := time.Duration(d.tickets) * d.work
	fmt.Fprintf(d.stdout, "one seed-style consumer (COUNT 2, one at a time) would need ~%v\n", roundDuration(seed))
	return nil
}

// redacted hides the password of a Redis URL.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return u.Redacted()
}
