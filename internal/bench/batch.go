//go:build redstream_batch

// This file measures NewBatchConsumer, which the library does not have
// yet. Until it does, it builds only with -tags redstream_batch; once it
// does, deleting the build constraint above puts the figure (and its
// ratio in benchmarks/) in every build.

package bench

import (
	"context"
	"fmt"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

func init() { ConsumeBatch = consumeBatch }

func consumeBatch(ctx context.Context, c rueidis.Client, stream string, n, consumers, size int, opts ...redstream.ConsumerOption) (Result, error) {
	noop := redstream.BatchHandlerFunc(func(context.Context, []*redstream.Message) error { return nil })
	elapsed, err := consumeBacklog(ctx, c, stream, n, consumers, size, func(opts ...redstream.ConsumerOption) (*redstream.Consumer, error) {
		return redstream.NewBatchConsumer(c, stream, "bench", noop, opts...)
	}, opts)
	if err != nil {
		return Result{}, err
	}
	return rate(fmt.Sprintf("batch consume+ack, %d consumer(s)", consumers), n, elapsed), nil
}
