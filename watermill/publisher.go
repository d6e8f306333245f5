package redstreamwm

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// Publisher is a Watermill message.Publisher that appends each message to
// the stream named by the topic, through a redstream.Publisher. It is safe
// for concurrent use. It never closes the client.
type Publisher struct {
	pub    *redstream.Publisher
	cfg    config
	closed atomic.Bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher that writes through client. Of the
// options, WithMarshaler, PublisherOptions and PublishTimeout apply.
func NewPublisher(client rueidis.Client, opts ...Option) (*Publisher, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	pub, err := redstream.NewPublisher(client, cfg.publisherOpts...)
	if err != nil {
		return nil, err
	}
	return &Publisher{pub: pub, cfg: cfg}, nil
}

// Publish appends the messages to the stream topic, in order, and returns
// once Redis has confirmed every one of them (one XADD for a single
// message, pipelined XADDs for several). If it returns an error, some
// messages may have been written (a *redstream.BatchError says which);
// publishing them again makes duplicates with the same UUID, which
// Watermill's at-least-once handling tolerates. After Close it returns
// ErrPublisherClosed.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.closed.Load() {
		return ErrPublisherClosed
	}
	if len(msgs) == 0 {
		return nil
	}
	entries := make([]redstream.Entry, len(msgs))
	for i, msg := range msgs {
		fs, err := p.cfg.marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("redstreamwm: marshal message %s: %w", msg.UUID, err)
		}
		entries[i] = redstream.Entry{Stream: topic, Fields: fs}
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.publishTimeout)
	defer cancel()
	if len(entries) == 1 {
		_, err := p.pub.Publish(ctx, topic, entries[0].Fields)
		return err
	}
	_, err := p.pub.PublishBatch(ctx, entries)
	return err
}

// Close makes later Publish calls fail with ErrPublisherClosed. It does
// not close the client and is safe to call more than once.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}
