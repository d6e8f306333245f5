package redstreamwm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// Subscriber is a Watermill message.Subscriber on redstream consumer
// groups. Each Subscribe call runs one redstream.Consumer, with a name of
// its own, on the stream named by the topic: subscriptions in the same
// group, in this process or others, compete for the entries, and each
// entry goes to one of them. It is safe for concurrent use. It never
// closes the client.
type Subscriber struct {
	client rueidis.Client
	group  string
	cfg    config
	copts  []redstream.ConsumerOption

	mu      sync.Mutex
	closed  bool
	closing chan struct{} // closed by Close: handlers give up at once
	subs    []*subscription

	closeOnce sync.Once
	closeErr  error
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber whose subscriptions join group.
//
// With group "", every Subscribe call gets a fresh group of its own,
// named "watermill-fanout-<uuid>": each subscription then receives every
// entry of the stream — from its start by default (StartID), old entries
// included — independently of all others (fan-out), and its group is
// removed again when the Subscriber closes, as nothing else can join it.
//
// Of the options, WithMarshaler, ConsumerOptions, StartID,
// ShutdownTimeout and WithLogger apply; invalid consumer options are
// reported here.
func NewSubscriber(client rueidis.Client, group string, opts ...Option) (*Subscriber, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOption)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	copts := []redstream.ConsumerOption{
		redstream.Concurrency(DefaultConcurrency),
		redstream.RetryBackoff(DefaultRetryBase, DefaultRetryMax),
		redstream.MaxDeliveries(DefaultMaxDeliveries),
		redstream.Block(DefaultBlock),
		redstream.StartID(cfg.startID), // for a group that vanishes and is re-created
		redstream.WithLogger(cfg.logger),
	}
	copts = append(copts, cfg.consumerOpts...)
	// NewConsumer checks the options without touching Redis.
	probe, err := redstream.NewConsumer(client, "redstreamwm-probe", "redstreamwm-probe", redstream.HandlerFunc(nopHandle), copts...)
	if err != nil {
		return nil, err
	}
	_ = probe.Close()
	return &Subscriber{client: client, group: group, cfg: cfg, copts: copts, closing: make(chan struct{})}, nil
}

func nopHandle(context.Context, *redstream.Message) error { return nil }

// subscription is one Subscribe call: a consumer and its output channel.
type subscription struct {
	s        *Subscriber
	topic    string
	group    string
	fanOut   bool
	consumer *redstream.Consumer
	out      chan *message.Message
	ctx      context.Context // the Subscribe call's
	done     chan struct{}   // closed after Run returned and out was closed
}

// Subscribe joins the group on the stream topic (creating both if
// missing, the group at StartID) before it returns, then delivers the
// entries on the returned channel, one at a time by default: the next
// comes after the previous was acked or nacked (see DefaultConcurrency).
//
// Ack acknowledges the entry. Nack leaves it pending and the consumer
// delivers it again after its retry backoff, under the same entry ID,
// with DeliveryFromContext counting the attempts (redstream's retry path;
// nothing is re-added to the stream). An entry the Marshaler cannot
// decode goes to the dead-letter stream "<topic>:dead".
//
// Each message's context carries the Subscribe ctx's values and the
// Delivery, and is canceled once the message was acked or nacked, or the
// subscription ended. The channel is closed when ctx ends or the
// Subscriber is closed; messages out but not acked by then stay pending
// in the group, for another consumer to take over after the consumer's
// ClaimMinIdle (redstream's default 30s).
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if topic == "" {
		return nil, fmt.Errorf("%w: empty topic", ErrInvalidOption)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSubscriberClosed
	}
	group, fanOut := s.group, false
	if group == "" {
		group, fanOut = "watermill-fanout-"+watermill.NewUUID(), true
	}
	if err := s.createGroup(ctx, topic, group); err != nil {
		return nil, err
	}
	sub := &subscription{
		s:      s,
		topic:  topic,
		group:  group,
		fanOut: fanOut,
		out:    make(chan *message.Message),
		ctx:    ctx,
		done:   make(chan struct{}),
	}
	c, err := redstream.NewConsumer(s.client, topic, group, sub, s.copts...)
	if err != nil {
		return nil, err
	}
	sub.consumer = c
	s.subs = append(s.subs, sub)
	go sub.run()
	return sub.out, nil
}

// createGroup creates group on stream at StartID (and the stream if
// missing); an existing group is left where it stands. redstream's
// Consumer does the same when Run starts, but asynchronously: doing it
// here lets Subscribe report errors and guarantees that a message
// published after Subscribe returned reaches the group.
func (s *Subscriber) createGroup(ctx context.Context, stream, group string) error {
	cmd := s.client.B().XgroupCreate().Key(stream).Group(group).Id(s.cfg.startID).Mkstream().Build()
	err := s.client.Do(ctx, cmd).Error()
	if err == nil || rueidis.IsRedisBusyGroup(err) {
		return nil
	}
	return fmt.Errorf("redstreamwm: xgroup create %s %s: %w", stream, group, err)
}

func (sub *subscription) run() {
	defer close(sub.done)
	err := sub.consumer.Run(sub.ctx)
	if err != nil && !errors.Is(err, redstream.ErrClosed) {
		sub.s.cfg.logger.Error("redstreamwm: consumer stopped with an error; closing the subscription",
			"stream", sub.topic, "group", sub.group, "consumer", sub.consumer.Name(), "err", err)
	}
	// Run returns after every handler returned: nothing sends on out now.
	close(sub.out)
}

// errNacked is what the handler returns for a nacked message, so that the
// consumer retries it.
var errNacked = errors.New("redstreamwm: message nacked")

// errAbandoned is what the handler returns for a message left unacked
// when its subscription ends: the entry stays pending.
var errAbandoned = errors.New("redstreamwm: subscription ended before the message was acked")

// Handle passes one entry to the output channel and waits for its
// outcome: nil for Ack, an error (so the entry stays pending and is
// retried) for Nack or when the subscription ends first.
func (sub *subscription) Handle(ctx context.Context, e *redstream.Message) error {
	msg, err := sub.s.cfg.marshaler.Unmarshal(e)
	if err != nil {
		return fmt.Errorf("redstreamwm: unmarshal %s %s: %w: %w", e.Stream, e.ID, redstream.ErrDecode, err)
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msg.SetContext(context.WithValue(mctx, deliveryKey{}, Delivery{
		ID:         e.ID,
		Stream:     e.Stream,
		Group:      sub.group,
		Consumer:   sub.consumer.Name(),
		Deliveries: e.Deliveries,
	}))
	select {
	case sub.out <- msg:
	case <-sub.ctx.Done():
		return errAbandoned
	case <-sub.s.closing:
		return errAbandoned
	case <-ctx.Done():
		return errAbandoned
	}
	select {
	case <-msg.Acked():
		return nil
	case <-msg.Nacked():
		return errNacked
	case <-sub.ctx.Done():
	case <-sub.s.closing:
	case <-ctx.Done():
	}
	select {
	case <-msg.Acked(): // acked just as the subscription ended
		return nil
	default:
		return errAbandoned
	}
}

// Close ends every subscription: handlers waiting for an Ack give up (their
// entries stay pending), each consumer shuts down gracefully within
// ShutdownTimeout (acknowledgements already given are sent), and the
// output channels are closed before Close returns. Fan-out groups are
// removed. Close does not close the client; it is safe to call more than
// once, and later calls return the first call's result.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		subs := s.subs
		s.subs = nil
		s.mu.Unlock()

		// Shutdown is started before the handlers waiting for an ack are
		// released, so that the slots they free are not used for new reads
		// (it narrows the window; see the package README on Close).
		errs := make([]error, len(subs))
		var wg sync.WaitGroup
		for i, sub := range subs {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), s.cfg.shutdownTimeout)
				defer cancel()
				if err := sub.consumer.Shutdown(ctx); err != nil {
					errs[i] = fmt.Errorf("redstreamwm: shutdown consumer %s of %s: %w", sub.consumer.Name(), sub.topic, err)
				}
				<-sub.done
				if sub.fanOut {
					s.destroyGroup(sub)
				}
			})
		}
		close(s.closing)
		wg.Wait()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// destroyGroup removes a fan-out group, which no one else can join.
func (s *Subscriber) destroyGroup(sub *subscription) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := s.client.B().XgroupDestroy().Key(sub.topic).Group(sub.group).Build()
	if err := s.client.Do(ctx, cmd).Error(); err != nil {
		s.cfg.logger.Warn("redstreamwm: removing a fan-out group failed", "stream", sub.topic, "group", sub.group, "err", err)
	}
}

// Delivery describes the stream entry a received message came from.
type Delivery struct {
	ID         string // the entry ID, "<ms>-<seq>"
	Stream     string // the stream (the topic)
	Group      string // the consumer group
	Consumer   string // the consumer's name in the group
	Deliveries int    // how often the group delivered the entry, from 1
}

type deliveryKey struct{}

// DeliveryFromContext returns the Delivery of a message received from a
// Subscriber, given the message's context (msg.Context()).
func DeliveryFromContext(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}
