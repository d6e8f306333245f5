package redstreamwm

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redstream-go/redstream"
)

// Adapter defaults, applied before the caller's ConsumerOptions (which
// therefore override them).
const (
	// DefaultConcurrency is how many messages one Subscribe call has out
	// at once: 1, Watermill's contract (the next message comes after the
	// previous one was acked or nacked).
	DefaultConcurrency = 1
	// DefaultRetryBase and DefaultRetryMax bound the wait before a nacked
	// message is delivered again: it doubles from 100ms up to 5s.
	DefaultRetryBase = 100 * time.Millisecond
	DefaultRetryMax  = 5 * time.Second
	// DefaultMaxDeliveries is 0: a nacked message is delivered again for
	// as long as it is nacked, never dead-lettered, as Watermill users
	// expect (Watermill's own Retry and PoisonQueue middlewares decide
	// when to give up).
	DefaultMaxDeliveries = 0
	// DefaultBlock bounds each read for new entries (watermill-redisstream
	// uses the same). A short block matters with Concurrency 1: a blocked
	// read holds the only handler slot, so a due redelivery waits for it.
	DefaultBlock = 100 * time.Millisecond
	// DefaultStartID is where a consumer group created by Subscribe
	// starts: "0", the whole stream, so that messages published before the
	// first Subscribe are delivered.
	DefaultStartID = "0"
	// DefaultShutdownTimeout bounds how long Subscriber.Close waits for a
	// consumer to stop gracefully before closing it at once.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultPublishTimeout bounds one Publish call.
	DefaultPublishTimeout = 30 * time.Second
	// DefaultDedupWindow is how long a Publisher remembers a published
	// message UUID, so that publishing that message again (a retry after
	// an error) does not append a second copy. See DedupWindow.
	DefaultDedupWindow = 10 * time.Minute
)

// Errors of this package.
var (
	// ErrInvalidOption reports an option given an invalid value; it
	// wraps redstream.ErrInvalidOption.
	ErrInvalidOption = fmt.Errorf("redstreamwm: %w", redstream.ErrInvalidOption)
	// ErrPublisherClosed reports Publish after Close.
	ErrPublisherClosed = errors.New("redstreamwm: publisher closed")
	// ErrSubscriberClosed reports Subscribe after Close.
	ErrSubscriberClosed = errors.New("redstreamwm: subscriber closed")
)

// Option configures a Publisher or a Subscriber; an option that concerns
// only one of them is ignored by the other, so one option list can serve
// both.
type Option func(*config) error

type config struct {
	marshaler       Marshaler
	consumerOpts    []redstream.ConsumerOption
	publisherOpts   []redstream.PublisherOption
	startID         string
	shutdownTimeout time.Duration
	publishTimeout  time.Duration
	dedupWindow     time.Duration
	logger          *slog.Logger
}

func newConfig(opts []Option) (config, error) {
	cfg := config{
		marshaler:       DefaultMarshaler{},
		startID:         DefaultStartID,
		shutdownTimeout: DefaultShutdownTimeout,
		publishTimeout:  DefaultPublishTimeout,
		dedupWindow:     DefaultDedupWindow,
		logger:          slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	return cfg, nil
}

// WithMarshaler sets how messages map to entry fields (default
// DefaultMarshaler). Publisher and Subscriber must agree.
func WithMarshaler(m Marshaler) Option {
	return func(c *config) error {
		if m == nil {
			return fmt.Errorf("%w: nil marshaler", ErrInvalidOption)
		}
		c.marshaler = m
		return nil
	}
}

// ConsumerOptions passes options to the redstream.Consumer behind each
// Subscribe call, after the adapter's defaults (Concurrency 1,
// RetryBackoff 100ms..5s, MaxDeliveries 0, Block 100ms), so they override
// them. Options given more than once accumulate. redstream.Name applies to
// every Subscribe call: two subscriptions with one name act as one
// consumer, so give a Name only to a Subscriber that subscribes once per
// topic. redstream.StartID has no effect on a group the Subscriber
// creates; use StartID.
func ConsumerOptions(opts ...redstream.ConsumerOption) Option {
	return func(c *config) error {
		c.consumerOpts = append(c.consumerOpts, opts...)
		return nil
	}
}

// PublisherOptions passes options (such as redstream.MaxLen) to the
// redstream.Publisher behind a Publisher.
func PublisherOptions(opts ...redstream.PublisherOption) Option {
	return func(c *config) error {
		c.publisherOpts = append(c.publisherOpts, opts...)
		return nil
	}
}

// StartID sets where a consumer group that Subscribe creates starts:
// "0" (DefaultStartID) the whole stream, "$" only entries added from then
// on, or after an entry ID. The group is created before Subscribe
// returns, so with "$" every message published after Subscribe returned
// is delivered. An existing group is never moved.
func StartID(id string) Option {
	return func(c *config) error {
		if id != "$" && id != "0" {
			if _, err := redstream.ParseID(id); err != nil {
				return fmt.Errorf("%w: StartID: %w", ErrInvalidOption, err)
			}
		}
		c.startID = id
		return nil
	}
}

// ShutdownTimeout bounds how long Subscriber.Close waits for each
// consumer to stop gracefully (acknowledgements flushed) before it closes
// it at once (default DefaultShutdownTimeout).
func ShutdownTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: ShutdownTimeout must be positive, got %v", ErrInvalidOption, d)
		}
		c.shutdownTimeout = d
		return nil
	}
}

// PublishTimeout bounds one Publish call (default DefaultPublishTimeout).
func PublishTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: PublishTimeout must be positive, got %v", ErrInvalidOption, d)
		}
		c.publishTimeout = d
		return nil
	}
}

// DedupWindow sets how long a Publisher remembers each message UUID it
// published to a topic (default DefaultDedupWindow, 10 minutes; whole
// milliseconds). Publishing a message whose UUID the topic got within the
// window returns success without appending it again, so a Publish that
// failed after Redis had in fact written the entry (its reply lost when
// the connection or the server went away) can be retried without making
// a duplicate. Each remembered UUID is one small key next to the stream,
// "{<topic>}:wm-dedup:<uuid>" (or "<topic>:wm-dedup:<uuid>" when the
// topic has a hash tag), holding the entry ID and expiring after the
// window. 0 turns deduplication off: every Publish is a plain XADD.
func DedupWindow(d time.Duration) Option {
	return func(c *config) error {
		if d != 0 && d < time.Millisecond {
			return fmt.Errorf("%w: DedupWindow must be 0 (off) or at least 1ms, got %v", ErrInvalidOption, d)
		}
		c.dedupWindow = d.Truncate(time.Millisecond)
		return nil
	}
}

// WithLogger sets the logger for what background work cannot return: a
// consumer that stopped with an error, a fan-out group that could not be
// removed. It is also given to each consumer (redstream.WithLogger)
// unless ConsumerOptions sets another. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}
