package redstreamwm

import (
	"context"
	"fmt"
	"strconv"
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
// options, WithMarshaler, PublisherOptions, PublishTimeout and
// DedupWindow apply.
func NewPublisher(client rueidis.Client, opts ...Option) (*Publisher, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	pub, err := redstream.NewPublisher(dedupClient{client}, cfg.publisherOpts...)
	if err != nil {
		return nil, err
	}
	return &Publisher{pub: pub, cfg: cfg}, nil
}

// Publish appends the messages to the stream topic, in order, and returns
// once Redis has confirmed every one of them (one XADD for a single
// message, pipelined XADDs for several).
//
// Publishing is idempotent per message UUID within the dedupe window
// (DedupWindow, 10 minutes by default): each message is written by a Lua
// script that appends it only if the topic has not got its UUID within
// the window, and otherwise returns the entry ID of the first copy. So
// when Publish returns an error — some messages may have been written (a
// *redstream.BatchError says which), and a lost reply can hide a write —
// publishing the same messages again writes each exactly once. Messages
// with an empty UUID are appended every time. After Close it returns
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
		headers, fields := splitHeaders(fs)
		entries[i] = redstream.Entry{Stream: topic, Fields: fields, Headers: headers}
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.publishTimeout)
	defer cancel()
	if p.cfg.dedupWindow > 0 {
		plan := &dedupPlan{
			topic:  topic,
			window: strconv.FormatInt(p.cfg.dedupWindow.Milliseconds(), 10),
			keys:   make([]string, len(msgs)),
		}
		for i, msg := range msgs {
			if msg.UUID != "" {
				plan.keys[i] = dedupKey(topic, msg.UUID)
			}
		}
		ctx = context.WithValue(ctx, dedupPlanKey{}, plan)
	}
	if len(entries) == 1 {
		_, err := p.pub.PublishEntry(ctx, entries[0])
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
