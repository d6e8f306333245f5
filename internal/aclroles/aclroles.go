// Package aclroles holds the Redis ACL users that the README's "Least
// privilege" section documents, one ACL SETUSER line per role, for the
// stream "orders" (its dead letters in "orders:dead") and the topic
// "orders" (partitions "orders:<i>{...}", coordination keys "{orders}:...").
// The tests run each role as a real ACL user with exactly these lines and
// check that the README shows them verbatim.
package aclroles

// Role is one documented ACL user.
type Role struct {
	Name string // what the user is for, as the README's table says
	Line string // the ACL SETUSER command, as typed into redis-cli
}

// Every ACL line starts from "reset" (no commands, keys or channels, no
// password) so that running it again gives the same user. Every role has
// PING (Dial checks the server answers) and CLUSTER SLOTS (Dial detects
// Redis Cluster with it).
var (
	// Publisher publishes to the stream orders (Publisher.Publish,
	// PublishBatch; redstream publish), and schedules and cancels entries
	// for it (PublishIn, PublishAt, PublishBatchAt, Cancel; publish --in,
	// --at): a script over its waiting keys "{orders}:scheduled:orders"
	// and "{orders}:scheduled-fields:orders".
	Publisher = Role{"publisher", "ACL SETUSER orders-publisher reset on >publisher-password" +
		" ~orders ~{orders}:scheduled* +ping +cluster|slots +info +xadd" +
		" +evalsha +eval +script|load +type +time +zadd +zrem +hincrby +hset +hdel"}

	// TopicPublisher publishes to the topic orders (OpenTopic, and
	// schedules events for it: PublishTopicIn/At,
	// PublishTopic, PublishTopicWait).
	TopicPublisher = Role{"topic publisher", "ACL SETUSER orders-topic-publisher reset on >topic-publisher-password" +
		" ~orders:* %R~{orders}:meta ~{orders:*}:scheduled* +ping +cluster|slots +info +hgetall +xadd +wait" +
		" +evalsha +eval +script|load +type +time +zadd +zrem +hincrby +hset +hdel"}

	// Consumer consumes the stream orders in a group: joining (XINFO
	// GROUPS and XLEN look before anything is created), reads, acks,
	// retries, reclaim, keep-alive, dead letters to orders:dead and the
	// removal of idle consumers (Consumer, batch consumer; redstream
	// consume), and moving its scheduled entries in when due. The waiting read has a connection of its own, which rueidis
	// resets with DISCARD and the UNSUBSCRIBE commands when it gives it
	// back.
	Consumer = Role{"consumer", "ACL SETUSER orders-consumer reset on >consumer-password" +
		" ~orders ~orders:dead ~{orders}:scheduled* +ping +cluster|slots +info +client|id +client|info +client|unblock" +
		" +xgroup|create +xgroup|createconsumer +xgroup|delconsumer +xreadgroup +xack +xpending" +
		" +xclaim +xautoclaim +xinfo|groups +xinfo|consumers +xlen +xadd +type +exists +evalsha +eval" +
		" +discard +unsubscribe +punsubscribe +sunsubscribe +zrange +zrangebyscore +zrem +hget +hdel +time"}

	// TopicConsumer consumes the topic orders in a group (TopicConsumer),
	// and moves in the scheduled events of the partitions it owns (their
	// waiting keys "{orders:<i>:<k>}:scheduled...").
	TopicConsumer = Role{"topic consumer", "ACL SETUSER orders-topic-consumer reset on >topic-consumer-password" +
		" ~orders:* ~{orders}:* ~{orders:*}:scheduled* +ping +cluster|slots +info +client|id +client|info +client|unblock" +
		" +xgroup|create +xgroup|createconsumer +xgroup|delconsumer +xreadgroup +xack +xpending" +
		" +xclaim +xautoclaim +xinfo|groups +xinfo|consumers +xlen +xadd +type +exists +evalsha +eval" +
		" +discard +unsubscribe +punsubscribe +sunsubscribe" +
		" +hgetall +hget +hset +hdel +hincrby +sadd +time +zrange +zrangebyscore +zrem"}

	// Operator runs the CLI's inspect and admin commands on the stream
	// and the topic orders: info, top, tail, pending, group, trim, dlq,
	// topic, scheduled (the Inspector, DeadLetterQueue, CreateTopic,
	// DeleteTopic).
	Operator = Role{"operator", "ACL SETUSER orders-operator reset on >operator-password" +
		" ~orders ~orders:* ~{orders}:* ~{orders:*}:scheduled* +ping +cluster|slots +info +scan +type +memory|usage +time" +
		" +xinfo|stream +xinfo|groups +xinfo|consumers +xlen +xrange +xrevrange +xread +xpending" +
		" +xgroup|create +xgroup|setid +xgroup|destroy +xgroup|delconsumer +xtrim +xadd +xdel +del" +
		" +hgetall +hget +hset +smembers +evalsha +eval +zcard +zrange +zrem +hdel +hmget"}

	// Dashboard reads what the Inspector shows, and nothing else: no
	// command it has can change data, and its keys are read-only
	// (Inspector.Stream, Pending, Streams, Topic; the metrics'
	// InspectorCollector).
	Dashboard = Role{"dashboard", "ACL SETUSER orders-dashboard reset on >dashboard-password" +
		" %R~orders %R~orders:* %R~{orders}:* %R~{orders:*}:scheduled* +ping +cluster|slots +info +scan +type +memory|usage +time" +
		" +xinfo|stream +xinfo|groups +xinfo|consumers +xlen +xrange +xrevrange +xpending +hgetall +zcard +zrange"}
)

// All lists the roles in the README's order.
var All = []Role{Publisher, TopicPublisher, Consumer, TopicConsumer, Operator, Dashboard}
