package redstreamwm_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

// suiteOptions are the adapter's defaults plus a reclaim quick enough for
// the suite's 15s timeouts: entries a closed subscriber left pending go to
// another consumer of the group after 1s instead of redstream's 30s.
var suiteOptions = []redstreamwm.Option{
	redstreamwm.ConsumerOptions(redstream.ClaimMinIdle(time.Second)),
	redstreamwm.ShutdownTimeout(10 * time.Second),
}

func pubSubFactory(client rueidis.Client) tests.ConsumerGroupPubSubConstructor {
	return func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		t.Helper()
		pub, err := redstreamwm.NewPublisher(client, suiteOptions...)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := redstreamwm.NewSubscriber(client, group, suiteOptions...)
		if err != nil {
			t.Fatal(err)
		}
		return pub, sub
	}
}

// TestPubSub runs Watermill's conformance suite. Every subscriber created
// for one test of the suite joins one consumer group, named after the
// test: the suite's many subscribers then compete for the entries, and
// what a closed subscriber left unacknowledged must reach the next one
// through redstream's reclaim. Redis runs with appendfsync always, and the
// reconnect test SIGKILLs and restarts it while messages flow.
func TestPubSub(t *testing.T) {
	srv := redstreamtest.StartRedis(t, redstreamtest.AppendOnly("always"))
	client := srv.Client(t)
	withGroup := pubSubFactory(client)
	perTest := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "wm:"+t.Name())
	}
	features := tests.Features{
		ConsumerGroups:        true,
		ExactlyOnceDelivery:   false, // at-least-once: a lost ack means a redelivery
		GuaranteedOrder:       false, // a nacked message comes back after later ones
		Persistent:            true,
		RestartServiceCommand: restartService(t, srv),
		RequireSingleInstance: false,
		// Subscribers of one test share a group: a new one gets only what
		// the group has not delivered yet. The fan-out mode, where it does
		// get every old message, is tested in TestPubSubFanOut.
		NewSubscriberReceivesOldMessages: false,
		ContextPreserved:                 false, // contexts do not cross Redis
	}
	tests.TestPubSub(t, features, perTest, withGroup)
}

// TestPubSubFanOut runs the suite's tests that make sense for group ""
// (every Subscribe call a fresh group reading the stream from its start),
// NewSubscriberReceivesOldMessages among them.
func TestPubSubFanOut(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	withGroup := pubSubFactory(client)
	fanOut := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return withGroup(t, "")
	}
	features := tests.Features{
		ConsumerGroups:                   true,
		Persistent:                       true,
		NewSubscriberReceivesOldMessages: true,
	}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, tests.TestContext, tests.PubSubConstructor)
	}{
		{"TestNewSubscriberReceivesOldMessages", tests.TestNewSubscriberReceivesOldMessages},
		{"TestPublishSubscribe", tests.TestPublishSubscribe},
		{"TestResendOnError", tests.TestResendOnError},
		{"TestContinueAfterErrors", tests.TestContinueAfterErrors},
		{"TestMessageCtx", tests.TestMessageCtx},
		{"TestTopic", tests.TestTopic},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, tests.TestContext{TestID: tests.NewTestID(), Features: features}, fanOut)
		})
	}
}
