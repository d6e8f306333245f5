// Package redstreamprom exports what redstream does, and the state of its
// streams in Redis, as Prometheus metrics. It lives apart from package
// redstream so that programs without Prometheus do not depend on it.
//
// Two collectors, registered side by side:
//
//   - Metrics counts what this process's Publishers and Consumers do, as
//     they do it: pass it to redstream.WithPublishMetrics and
//     redstream.WithMetrics. Every process exports its own counts; sum them
//     in queries.
//   - InspectorCollector reads streams, groups and consumers from Redis
//     with a redstream.Inspector when Prometheus scrapes, so lag and
//     pending counts are those Redis holds, whoever published or consumed.
//     The numbers are the same from every process: run it in one, or
//     aggregate with max rather than sum.
//
// Wiring them into an HTTP server:
//
//	reg := prometheus.NewRegistry()
//	metrics, err := redstreamprom.NewMetrics()
//	state, err := redstreamprom.NewInspectorCollector(
//		redstream.NewInspector(client), redstreamprom.Streams("tickets"))
//	reg.MustRegister(metrics, state)
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
//	pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(metrics))
//	cons, err := redstream.NewConsumer(client, "tickets", "workers", handle,
//		redstream.WithMetrics(metrics))
//
// # Metrics
//
// Labels: stream is the stream's key, group the consumer group, consumer
// the consumer's name in the group.
//
// From Metrics, as things happen:
//
//	redstream_published_total{stream,result}
//		Counter. Entries appended to the stream (result="ok") or that
//		failed to be (result="error").
//	redstream_handled_total{stream,group,outcome}
//		Counter. Handler calls by outcome: "ack" (succeeded, acknowledged),
//		"retry" (failed, will be handled again) or "dead_letter" (moved to
//		the dead-letter stream). An entry that fails twice and then
//		succeeds counts two retries and one ack.
//	redstream_handler_duration_seconds{stream,group}
//		Histogram. How long handler calls took, whatever their outcome;
//		buckets from 0.5ms to 30s (DefaultBuckets, see Buckets). Its count
//		equals the sum of redstream_handled_total over outcomes: an entry
//		the consumer dead-letters without calling the handler (delivered
//		more than MaxDeliveries times by consumers that died) is observed
//		with a duration of 0.
//	redstream_handlers_in_flight{stream,group}
//		Gauge. Handlers running now.
//	redstream_reclaimed_total{stream,group}
//		Counter. Pending entries taken over from other consumers that held
//		them idle too long (XAUTOCLAIM).
//	redstream_read_errors_total{stream,group}
//		Counter. Failed reads of the stream; the consumer retries them.
//
// From InspectorCollector, read at each scrape:
//
//	redstream_inspect_up{stream}
//		1 if the stream was read, 0 if it could not be: missing, another
//		type, Redis unreachable or slower than ScrapeTimeout. A stream that
//		is down has no other series; the scrape itself still succeeds.
//	redstream_inspect_errors_total
//		Counter. Failed reads of a stream, or of the list of streams
//		matching a StreamPattern.
//	redstream_stream_length{stream}
//		Entries in the stream (XLEN).
//	redstream_stream_memory_bytes{stream}
//		The server's estimate of the stream's memory (MEMORY USAGE); absent
//		where the server does not tell.
//	redstream_dead_letters{stream}
//		Entries in the stream's dead-letter stream (0 when it does not
//		exist): "<stream>:dead", or "<stream><suffix>" for an Inspector
//		made with redstream.InspectDeadLetterSuffix(suffix). With
//		StreamPattern, a matching dead-letter stream of a matching stream
//		is counted here, not reported as a stream of its own.
//	redstream_group_lag{stream,group}
//		Entries the group has not been delivered yet. Absent when it cannot
//		be known exactly: Redis does not report it (after XDEL, or a group
//		set to an arbitrary ID) and the backlog is too long for the
//		Inspector to count. A wrong number is never exported.
//	redstream_group_lag_known{stream,group}
//		1 when redstream_group_lag is exported, 0 when the lag is unknown;
//		alert on it rather than on a missing series.
//	redstream_group_pending{stream,group}
//		Entries delivered to the group's consumers and not acknowledged.
//	redstream_group_oldest_pending_age_seconds{stream,group}
//		Age of the oldest pending entry, from the time in its ID; 0 when
//		nothing is pending. A growing value means an entry is stuck.
//	redstream_group_consumers{stream,group}
//		Consumers in the group.
//	redstream_consumer_pending{stream,group,consumer}
//		Entries pending with the consumer.
//	redstream_consumer_idle_seconds{stream,group,consumer}
//		Time since the consumer last read or claimed; absent where the
//		server does not tell.
//
// Alerting starts from redstream_group_lag (work waiting),
// redstream_group_oldest_pending_age_seconds (work stuck),
// rate(redstream_handled_total{outcome="dead_letter"}[5m]) (work failing)
// and redstream_group_lag_known == 0 or redstream_inspect_up == 0 (not
// knowing).
package redstreamprom
