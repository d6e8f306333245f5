package redstreamwm_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/redstream-go/redstream/redstreamtest"
	redstreamwm "github.com/redstream-go/redstream/watermill"
)

// BenchmarkPublish compares plain XADD publishing (DedupWindow(0)) with
// idempotent publishing (the default): one message per call from many
// goroutines, and batches of 100 messages per call.
func BenchmarkPublish(b *testing.B) {
	srv := redstreamtest.StartRedis(b)
	client := srv.Client(b)
	var topicN atomic.Int64
	for _, mode := range []struct {
		name   string
		window time.Duration
	}{{"plain", 0}, {"dedup", redstreamwm.DefaultDedupWindow}} {
		pub, err := redstreamwm.NewPublisher(client, redstreamwm.DedupWindow(mode.window))
		if err != nil {
			b.Fatal(err)
		}
		payload := make([]byte, 100)
		b.Run(mode.name+"/single-parallel", func(b *testing.B) {
			topic := "bench-" + strconv.FormatInt(topicN.Add(1), 10)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(mode.name+"/single-serial", func(b *testing.B) {
			topic := "bench-" + strconv.FormatInt(topicN.Add(1), 10)
			for b.Loop() {
				if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), payload)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode.name+"/batch100", func(b *testing.B) {
			topic := "bench-" + strconv.FormatInt(topicN.Add(1), 10)
			msgs := make([]*message.Message, 100)
			for b.Loop() {
				for i := range msgs {
					msgs[i] = message.NewMessage(watermill.NewUUID(), payload)
				}
				if err := pub.Publish(topic, msgs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
		})
		srv.Do(b, "FLUSHALL")
	}
}
