// Package redstreamwm runs Watermill (github.com/ThreeDotsLabs/watermill)
// handlers on redstream: a message.Publisher and a message.Subscriber
// built on redstream.Publisher and redstream.Consumer, so that Watermill
// code gets redstream's consumer groups — batched acknowledgements,
// retries on the entry's own ID, reclaim of entries held by dead
// consumers, leases for slow handlers, dead letters — by changing one
// constructor:
//
//	client, err := redstream.Dial(ctx, "redis://localhost:6379/0")
//	if err != nil {
//		return err
//	}
//	defer client.Close() // the adapter never closes it
//	pub, err := redstreamwm.NewPublisher(client)
//	if err != nil {
//		return err
//	}
//	sub, err := redstreamwm.NewSubscriber(client, "tickets-consumer-group")
//	if err != nil {
//		return err
//	}
//	router.AddHandler("tickets", "tickets", sub, "tickets-out", pub, handle)
//
// The module is github.com/redstream-go/redstream/watermill, separate from
// the core's, so that redstream itself never depends on Watermill; its
// package name is redstreamwm.
//
// # Topics, groups, consumers
//
// A topic is a stream key. Each Subscribe call runs one redstream.Consumer
// in the Subscriber's group, with a name of its own: all subscriptions of
// a group, in any process, compete for the stream's entries. With group ""
// each Subscribe call gets a group of its own instead (fan-out; see
// NewSubscriber).
//
// # Acknowledgement
//
// Ack acknowledges the entry. Nack makes the handler return an error, so
// the entry stays pending and the consumer delivers it again after its
// retry backoff (100ms doubling to 5s by default), with the same entry ID
// and a higher delivery count (DeliveryFromContext). By default a message
// is redelivered for as long as it is nacked (MaxDeliveries 0); pass
// redstream.MaxDeliveries(n) in ConsumerOptions to dead-letter it after n
// deliveries. Delivery is at-least-once.
//
// # Publishing
//
// Publish returns once Redis has confirmed every message. Publishing is
// idempotent per message UUID within the dedupe window (DedupWindow, 10
// minutes by default): a Lua script appends a message only if its topic
// has not got that UUID within the window, so retrying a Publish whose
// reply was lost does not append a second copy.
//
// # Field layout
//
// DefaultMarshaler writes watermill-redisstream's layout,
// _watermill_message_uuid and payload, with the metadata as redstream
// headers (redstream.HeaderPrefix): any redstream consumer reads it as
// Message.Headers, and headers from any producer arrive as metadata. It
// reads watermill-redisstream's MessagePack metadata field too.
// RedisstreamMarshaler writes that field instead of headers, for
// watermill-redisstream subscribers, which read metadata only there.
// Entries from other producers are delivered too, with the entry ID as
// UUID; see DefaultMarshaler.
package redstreamwm
