package bench

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// ConsumeBatch measures NewBatchConsumer the way Consume measures
// NewConsumer: `consumers` of one group drain a backlog of n entries with
// a no-op BatchHandler.
func ConsumeBatch(ctx context.Context, c rueidis.Client, stream string, n, consumers, size int, opts ...redstream.ConsumerOption) (Result, error) {
	noop := redstream.BatchHandlerFunc(func(context.Context, []*redstream.Message) error { return nil })
	elapsed, err := consumeBacklog(ctx, c, stream, n, consumers, size, func(opts ...redstream.ConsumerOption) (*redstream.Consumer, error) {
		return redstream.NewBatchConsumer(c, stream, "bench", noop, opts...)
	}, opts)
	if err != nil {
		return Result{}, err
	}
	return rate(fmt.Sprintf("batch consume+ack, %d consumer(s)", consumers), n, elapsed), nil
}
