// Package redstream builds event streams on Redis Streams: publishers
// append events with XADD, and any number of consumer processes share
// them through a consumer group, each entry handled by one of them and
// acknowledged once handled.
//
// A publisher:
//
//	client, err := redstream.Dial(ctx, "redis://localhost:6379/0")
//	if err != nil {
//		return err
//	}
//	defer client.Close()
//	pub, err := redstream.NewPublisher(client)
//	if err != nil {
//		return err
//	}
//	id, err := pub.Publish(ctx, "tickets", redstream.Fields(
//		"whatHappened", "ticket received",
//		"ticketID", "98498081",
//		"ticketData", "some ticket data",
//	))
//
// A consumer, run in as many processes as the load needs:
//
//	handle := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
//		return saveTicket(ctx, m.Value("ticketID"), m.Value("ticketData"))
//	})
//	cons, err := redstream.NewConsumer(client, "tickets", "tickets-consumer-group", handle,
//		redstream.Name(os.Getenv("HOSTNAME")), // stable: resumes its own entries after a restart
//		redstream.Concurrency(32),
//	)
//	if err != nil {
//		return err
//	}
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	return cons.Run(ctx) // returns after in-flight handlers finished and were acknowledged
//
// # Delivery
//
// A handler that returns nil has its entry acknowledged (XACK, batched with
// others within milliseconds). A handler that returns an error or panics
// leaves the entry pending; the consumer claims it back after an
// exponential backoff with jitter and hands it to a handler again, under
// its original ID, with Message.Deliveries counting the attempts (a
// handler may choose the delay itself with RetryAfter, and
// Message.LastAttempt tells it when a failure would be final). After
// MaxDeliveries attempts (default 5), or at once for an error wrapping
// ErrPermanent or an entry a typed handler cannot decode, the entry moves
// to the dead-letter stream "<stream>:dead" with where it came from and
// the last error; moving and acknowledging happen in one atomic step.
// DeadLetterQueue lists, replays and purges dead letters.
//
// Consumers watch each other: entries another consumer has held longer
// than ClaimMinIdle without progress (it died or stalled) are taken over
// with XAUTOCLAIM, while a consumer keeps the entries it is still handling
// fresh, so slow handlers are not raced. Idle consumers that hold nothing
// are removed from the group; a consumer that still holds entries never
// is. Delivery is therefore at-least-once: handlers should be idempotent.
//
// A Consumer reads no more entries than it has idle handlers for, so the
// entries it cannot start soon stay available to the other consumers of
// the group. Reads always block for a bounded time (Block), and Shutdown
// or Close interrupt them at once.
//
// # Headers and hooks
//
// Headers travel with an entry apart from its fields (Entry.Headers,
// Message.Headers), stored as fields named with HeaderPrefix so that any
// producer can set them. Publishers and Consumers report what they do to
// a Metrics (WithPublishMetrics, WithMetrics); a Metrics that is also a
// PublishTracer or HandleTracer wraps every publish and handler call, and
// so can carry a trace from one to the other in the headers. The
// sub-packages redstreamprom and redstreamotel implement these hooks for
// Prometheus and OpenTelemetry; JoinHooks uses several at once.
//
// # Clients
//
// redstream works on a github.com/redis/rueidis client. Dial makes one from
// a redis:// or rediss:// URL, but any rueidis client works, including a
// Redis Cluster client. redstream never closes a client: it is the
// caller's.
package redstream
