// Package redstreamotel traces redstream's publishes and handler calls
// with OpenTelemetry, carrying the trace from the publisher to the
// handler inside the entry, and measures them with the messaging metrics
// of the OpenTelemetry semantic conventions. It lives apart from package
// redstream so that programs without OpenTelemetry do not depend on it.
//
// One Hooks value serves every Publisher and consumer of a process:
//
//	hooks, err := redstreamotel.New() // the global providers and propagator
//	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(hooks))
//	cons, err := redstream.NewConsumer(client, "tickets", "workers", handle,
//		redstream.WithMetrics(hooks))
//
// To export Prometheus metrics too, pass
// redstream.JoinHooks(promMetrics, hooks) instead.
//
// # How the trace travels
//
// A publish writes the W3C trace context of its span into the entry as
// headers (see redstream.HeaderPrefix): the field
// "redstream:h:traceparent" holds "00-<trace id>-<span id>-<flags>",
// with "redstream:h:tracestate" and "redstream:h:baggage" beside it
// when there is anything to carry (in the propagator's order, among the
// entry's leading headers). A consumer reads them back, so its
// handler's span continues the trace. Any producer can join by writing
// the field, from any language or from redis-cli:
//
//	XADD tickets * redstream:h:traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ticketID 42
//
// Which fields are written and read is the propagator's choice
// (WithPropagator); the default is the global one, or W3C Trace Context
// and Baggage when none is set.
//
// # Spans
//
// The spans follow the messaging conventions (semantic conventions
// v1.43, which are in development): names are "<operation>
// <destination>", where the destination is the stream, or the topic's
// name for a topic.
//
//	send <destination>      PRODUCER  a publish of one entry, whose
//	                                  context the entry carries
//	create <destination>    PRODUCER  one per entry of a publish of several,
//	                                  whose context that entry carries
//	send [<destination>]    CLIENT    a publish of several, linking to their
//	                                  create spans; no destination when the
//	                                  entries go to several
//	process <destination>   CONSUMER  a handler call
//
// A Handler's span is a child of the message's creation context (the send
// or create span), continuing the producer's trace; with LinkOnly it
// starts a new trace instead. Either way it links to the creation
// context. A BatchHandler's span starts a new trace and links to each
// message's creation context. An entry whose caller already set a
// traceparent keeps it, gets no create span, and the send span links to
// it.
//
// Attributes of the conventions: messaging.system ("redis": Redis has
// no well-known value), messaging.operation.name and
// messaging.operation.type ("send", "create" or "process"),
// messaging.destination.name, messaging.destination.partition.id (a
// topic's partition), messaging.consumer.group.name,
// messaging.message.id (the entry's ID, set on a publish span once Redis
// assigned it), messaging.batch.message_count (a publish of several
// entries, a BatchHandler's call), and error.type when the operation
// failed: "panic", "permanent", "decode", "unreachable", "not_stream",
// "invalid", "timeout", "canceled", or "_OTHER".
//
// Attributes of redstream's own:
//
//	redstream.message.deliveries  int     how often the entry has been delivered,
//	                                      this delivery included (process spans,
//	                                      and the links of a batch's span)
//	redstream.outcome             string  "ack", "retry" or "dead_letter": what
//	                                      became of a Handler's message
//	redstream.retry.delay         float   seconds the handler asked to wait with
//	                                      redstream.RetryAfter before the retry
//	redstream.scheduled           bool    a scheduled publish (PublishAt, PublishIn
//	                                      and their kin)
//	redstream.schedule.id         string  its scheduled ID, in place of
//	                                      messaging.message.id, which the entry
//	                                      gets only when it is moved in
//
// A failed handler call records the error (an "exception" event) and sets
// the span's status to Error. Each message retried or dead-lettered adds
// an event "redstream.retry" or "redstream.dead_letter", with
// messaging.message.id, redstream.message.deliveries and, for a retry the
// handler timed, redstream.retry.delay. Each delivery of a message is a
// span of its own, so a message that fails three times shows three
// process spans in the producer's trace, the last with dead_letter.
//
// # Metrics
//
// With the attributes above (messaging.system, messaging.operation.name,
// messaging.destination.name, the partition, the consumer group, and
// error.type on failures):
//
//	messaging.client.sent.messages       Counter {message}. Entries sent to
//	                                     Redis, scheduled ones included.
//	messaging.client.operation.duration  Histogram, seconds. Publish calls, one
//	                                     per call (a batch is one), each its
//	                                     send span's duration; also with
//	                                     messaging.operation.type "send".
//	messaging.client.consumed.messages   Counter {message}. Messages handed to
//	                                     handlers, each delivery counted.
//	messaging.process.duration           Histogram, seconds. Handler calls, one
//	                                     per call (a batch is one), each its
//	                                     process span's duration: the handler
//	                                     and what the consumer does with the
//	                                     outcome before the span ends (a
//	                                     Consumer writes a dead letter then;
//	                                     acknowledgements go out in batches
//	                                     later).
//
// The histograms use the conventions' bucket boundaries. When a span is
// recorded, its measured duration is the span's own (its end time less
// its start time), as the conventions ask. They are measured in
// TracePublish and TraceHandle; the redstream.Metrics methods of Hooks
// do nothing.
//
// # Cost
//
// A span that is not sampled costs little: span names, start options and
// each series' measurement options are made once per destination and
// kept (up to a few thousand of each), per-message attributes, errors
// and statuses are set only on spans that are recorded, and a batch's
// headers share one new array. Measurements are skipped when nothing
// reads the instrument.
package redstreamotel
