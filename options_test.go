package redstream

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// The kinds of option are separate types: these do not compile if an
// option of one kind becomes accepted by the other (see also
// TestOptionsOfTheWrongKindDoNotCompile).
var (
	_ ConsumerOption      = ClaimMinIdle(time.Second)
	_ ConsumerOption      = ClaimInterval(time.Second)
	_ ConsumerOption      = DeleteIdleConsumers(time.Second)
	_ ConsumerOption      = AlsoStreams("x")
	_ ConsumerOption      = BatchWait(time.Second)
	_ ConsumerOption      = AckInterval(time.Millisecond)
	_ ConsumerOption      = AckBatch(1)
	_ TopicConsumerOption = Lease(time.Second)
	_ Option              = Concurrency(1)
	_ Option              = Name("n")
	_ Option              = MaxDeliveries(1)
)

// nopClient satisfies rueidis.Client for constructors that do not touch
// Redis; calling it panics.
type nopClient struct{ rueidis.Client }

// Catches: an option that accepts a value outside its documented range
// (or rejects one inside it, at the bounds), returns an error that does
// not match ErrInvalidOption, or does not store what it was given.
func TestOptionsRangeChecks(t *testing.T) {
	metrics := &countingMetrics{}
	logger := slog.New(slog.DiscardHandler)
	type check func(*consumerConfig) bool
	for _, tc := range []struct {
		name string
		opt  any // ConsumerOption or TopicConsumerOption
		ok   bool
		set  check // for ok options: the value landed
	}{
		{"Name empty", Name(""), false, nil},
		{"Name", Name("n"), true, func(c *consumerConfig) bool { return c.name == "n" }},
		{"Concurrency 0", Concurrency(0), false, nil},
		{"Concurrency 1", Concurrency(1), true, func(c *consumerConfig) bool { return c.concurrency == 1 }},
		{"BatchSize 0", BatchSize(0), false, nil},
		{"BatchSize 1", BatchSize(1), true, func(c *consumerConfig) bool { return c.batch == 1 }},
		{"Block under 1ms", Block(time.Millisecond - 1), false, nil},
		{"Block 1ms", Block(time.Millisecond), true, func(c *consumerConfig) bool { return c.block == time.Millisecond }},
		{"Block 1m", Block(time.Minute), true, func(c *consumerConfig) bool { return c.block == time.Minute }},
		{"Block over 1m", Block(time.Minute + 1), false, nil},
		{"StartID junk", StartID("junk"), false, nil},
		{"StartID $", StartID("$"), true, func(c *consumerConfig) bool { return c.startID == "$" }},
		{"StartID 0", StartID("0"), true, func(c *consumerConfig) bool { return c.startID == "0" }},
		{"StartID an ID", StartID("5-1"), true, func(c *consumerConfig) bool { return c.startID == "5-1" }},
		{"AckInterval 0", AckInterval(0), false, nil},
		{"AckInterval 1s", AckInterval(time.Second), true, func(c *consumerConfig) bool { return c.ackInterval == time.Second }},
		{"AckInterval over 1s", AckInterval(time.Second + 1), false, nil},
		{"AckBatch 0", AckBatch(0), false, nil},
		{"AckBatch 1", AckBatch(1), true, func(c *consumerConfig) bool { return c.ackBatch == 1 }},
		{"AlsoStreams empty name", AlsoStreams("a", ""), false, nil},
		{"AlsoStreams", AlsoStreams("a", "b"), true, func(c *consumerConfig) bool { return strings.Join(c.streams, ",") == "a,b" }},
		{"ClaimMinIdle under 10ms", ClaimMinIdle(10*time.Millisecond - 1), false, nil},
		{"ClaimMinIdle 10ms", ClaimMinIdle(10 * time.Millisecond), true, func(c *consumerConfig) bool { return c.claimMinIdle == 10*time.Millisecond }},
		{"ClaimInterval under 1ms", ClaimInterval(time.Millisecond - 1), false, nil},
		{"ClaimInterval 1ms", ClaimInterval(time.Millisecond), true, func(c *consumerConfig) bool { return c.claimInterval == time.Millisecond }},
		{"MaxDeliveries -1", MaxDeliveries(-1), false, nil},
		{"MaxDeliveries 0", MaxDeliveries(0), true, func(c *consumerConfig) bool { return c.maxDeliveries == 0 }},
		{"RetryBackoff base 0", RetryBackoff(0, time.Second), false, nil},
		{"RetryBackoff max < base", RetryBackoff(2*time.Second, time.Second), false, nil},
		{"RetryBackoff base = max", RetryBackoff(time.Second, time.Second), true, func(c *consumerConfig) bool {
			return c.retry.Base == time.Second && c.retry.Max == time.Second
		}},
		{"DeadLetterSuffix empty", DeadLetterSuffix(""), false, nil},
		{"DeadLetterSuffix", DeadLetterSuffix(":x"), true, func(c *consumerConfig) bool { return c.deadSuffix == ":x" }},
		{"DeleteIdleConsumers -1", DeleteIdleConsumers(-1), false, nil},
		{"DeleteIdleConsumers 0", DeleteIdleConsumers(0), true, func(c *consumerConfig) bool { return c.deleteIdle == 0 }},
		{"WithMetrics nil", WithMetrics(nil), false, nil},
		{"WithMetrics", WithMetrics(metrics), true, func(c *consumerConfig) bool { return c.metrics == metrics }},
		{"WithLogger nil", WithLogger(nil), false, nil},
		{"WithLogger", WithLogger(logger), true, func(c *consumerConfig) bool { return c.logger == logger }},
		{"Lease under 30ms", Lease(30*time.Millisecond - 1), false, nil},
		{"Lease 30ms", Lease(30 * time.Millisecond), true, func(c *consumerConfig) bool { return c.lease == 30*time.Millisecond }},
		{"BatchWait -1", BatchWait(-1), false, nil},
		{"BatchWait 0", BatchWait(0), true, func(c *consumerConfig) bool { return c.batchWait == 0 && c.batchWaitSet }},
		{"BatchWait 1m", BatchWait(time.Minute), true, func(c *consumerConfig) bool { return c.batchWait == time.Minute }},
		{"BatchWait over 1m", BatchWait(time.Minute + 1), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg consumerConfig
			var err error
			switch o := tc.opt.(type) {
			case ConsumerOption:
				err = o.applyToConsumer(&cfg)
			case TopicConsumerOption:
				err = o.applyToTopic(&cfg)
			default:
				t.Fatalf("%T is no option", tc.opt)
			}
			switch {
			case tc.ok && err != nil:
				t.Fatalf("rejected a valid value: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("accepted a value out of range")
			case !tc.ok && !errors.Is(err, ErrInvalidOption):
				t.Fatalf("error %v does not match ErrInvalidOption", err)
			case tc.ok && !tc.set(&cfg):
				t.Fatalf("the value was not stored: %+v", cfg)
			}
		})
	}
}

// Catches: an option of both kinds that one kind ignores (applies to the
// consumer but not the topic consumer), and a one-kind option that the
// other kind accepts at run time through a type assertion.
func TestOptionsApplyToTheirKinds(t *testing.T) {
	for _, o := range []Option{Concurrency(3), Name("n"), MaxDeliveries(3)} {
		var c, tc consumerConfig
		if err := o.applyToConsumer(&c); err != nil {
			t.Fatal(err)
		}
		if err := o.applyToTopic(&tc); err != nil {
			t.Fatal(err)
		}
		if c.concurrency+c.maxDeliveries != tc.concurrency+tc.maxDeliveries || c.name != tc.name {
			t.Fatalf("%T applied differently to the two kinds: %+v vs %+v", o, c, tc)
		}
	}
	for _, o := range []ConsumerOption{ClaimMinIdle(time.Second), ClaimInterval(time.Second),
		AlsoStreams("x"), BatchWait(time.Second), AckInterval(time.Millisecond), AckBatch(1)} {
		if _, ok := o.(TopicConsumerOption); ok {
			t.Errorf("%T, a Consumer option, is also a TopicConsumerOption", o)
		}
	}
	if _, ok := Lease(time.Second).(ConsumerOption); ok {
		t.Error("Lease, a TopicConsumer option, is also a ConsumerOption")
	}
}

// Catches: defaults that are not the documented ones, a batch that is not
// the concurrency by default, a claim interval not derived from
// ClaimMinIdle (half of it, at most 10s) or one given explicitly that is
// overwritten, a missing logger, metrics or name (nil dereferences in the
// consumer), and default names shared between consumers (their pending
// entries would mix).
func TestOptionsDefaultsAfterFinish(t *testing.T) {
	cfg := defaultConsumerConfig("s", DefaultConcurrency, 0)
	if err := cfg.finish(); err != nil {
		t.Fatal(err)
	}
	if cfg.concurrency != DefaultConcurrency || cfg.batch != DefaultConcurrency || cfg.block != DefaultBlock ||
		cfg.startID != "0" || cfg.ackInterval != DefaultAckInterval || cfg.ackBatch != DefaultAckBatch ||
		cfg.claimMinIdle != DefaultClaimMinIdle || cfg.claimInterval != 10*time.Second ||
		cfg.maxDeliveries != DefaultMaxDeliveries || cfg.retry != defaultRetry ||
		cfg.deadSuffix != DefaultDeadLetterSuffix || cfg.deleteIdle != DefaultDeleteIdleConsumers ||
		strings.Join(cfg.streams, ",") != "s" {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.logger == nil || cfg.metrics == nil {
		t.Fatal("no default logger or metrics")
	}
	if _, ok := cfg.metrics.(NopMetrics); !ok {
		t.Fatalf("default metrics %T, want NopMetrics", cfg.metrics)
	}
	host, _ := os.Hostname()
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(host) + `-` + strconv.Itoa(os.Getpid()) + `-\d+$`).MatchString(cfg.name) {
		t.Fatalf("default name %q, want <hostname>-<pid>-<n>", cfg.name)
	}
	other := defaultConsumerConfig("s", DefaultConcurrency, 0)
	if err := other.finish(); err != nil {
		t.Fatal(err)
	}
	if other.name == cfg.name {
		t.Fatalf("two consumers got the same default name %q", cfg.name)
	}

	for _, tc := range []struct {
		opts []ConsumerOption
		want time.Duration
	}{
		{[]ConsumerOption{ClaimMinIdle(4 * time.Second)}, 2 * time.Second},
		{[]ConsumerOption{ClaimMinIdle(time.Hour)}, 10 * time.Second},
		{[]ConsumerOption{ClaimMinIdle(4 * time.Second), ClaimInterval(time.Minute)}, time.Minute},
	} {
		cfg := defaultConsumerConfig("s", DefaultConcurrency, 0)
		for _, o := range tc.opts {
			if err := o.applyToConsumer(&cfg); err != nil {
				t.Fatal(err)
			}
		}
		if err := cfg.finish(); err != nil {
			t.Fatal(err)
		}
		if cfg.claimInterval != tc.want {
			t.Errorf("claimInterval with ClaimMinIdle %v = %v, want %v", cfg.claimMinIdle, cfg.claimInterval, tc.want)
		}
	}

	batch := defaultConsumerConfig("s", 1, DefaultBatchSize)
	if err := batch.finish(); err != nil || batch.batch != DefaultBatchSize || batch.concurrency != 1 {
		t.Fatalf("batch consumer defaults: %+v, %v", batch, err)
	}
}

// Catches: finish accepting a stream given twice (read twice, acked
// twice), or a stream that is another's dead-letter stream (dead letters
// would be consumed and dead-lettered again).
func TestOptionsFinishRejectsConflictingStreams(t *testing.T) {
	for name, opts := range map[string][]ConsumerOption{
		"twice":           {AlsoStreams("s")},
		"dead of another": {AlsoStreams("s:dead")},
		"dead, suffix":    {DeadLetterSuffix(":x"), AlsoStreams("t", "t:x")},
	} {
		cfg := defaultConsumerConfig("s", DefaultConcurrency, 0)
		for _, o := range opts {
			if err := o.applyToConsumer(&cfg); err != nil {
				t.Fatal(err)
			}
		}
		if err := cfg.finish(); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("%s: finish = %v, want ErrInvalidOption", name, err)
		}
	}
}

// Catches: a Consumer of single messages that accepts BatchWait (it would
// be ignored), a batch consumer that refuses it, and constructors that
// skip option validation.
func TestOptionsConstructorsValidate(t *testing.T) {
	client := nopClient{}
	h := HandlerFunc(func(context.Context, *Message) error { return nil })
	bh := BatchHandlerFunc(func(context.Context, []*Message) error { return nil })
	if _, err := NewConsumer(client, "s", "g", h, BatchWait(time.Second)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewConsumer with BatchWait: %v, want ErrInvalidOption", err)
	}
	if _, err := NewConsumer(client, "s", "g", h, BatchWait(0)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewConsumer with BatchWait(0): %v, want ErrInvalidOption", err)
	}
	bc, err := NewBatchConsumer(client, "s", "g", bh, BatchWait(time.Second))
	if err != nil || bc.cfg.batchWait != time.Second {
		t.Fatalf("NewBatchConsumer with BatchWait: %v", err)
	}
	if _, err := NewConsumer(client, "s", "g", h, Block(0)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewConsumer with Block(0): %v", err)
	}
	c, err := NewConsumer(client, "s", "g", h, Concurrency(7))
	if err != nil || c.cfg.batch != 7 || c.capacity != 7 {
		t.Fatalf("NewConsumer with Concurrency(7): %v, batch %d, capacity %d", err, c.cfg.batch, c.capacity)
	}
	top := &Topic{Name: "t", keys: []string{"t:0"}}
	if _, err := NewTopicConsumer(client, top, "g", h, Lease(time.Millisecond)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("NewTopicConsumer with Lease(1ms): %v", err)
	}
	tc, err := NewTopicConsumer(client, top, "g", h, Lease(time.Second), Concurrency(2))
	if err != nil || tc.cfg.lease != time.Second || tc.cfg.concurrency != 2 || tc.cfg.logger == nil || tc.cfg.metrics == nil {
		t.Fatalf("NewTopicConsumer: %v, %+v", err, tc.cfg)
	}
}

// Catches: options that compile for the wrong kind of consumer (Lease
// silently ignored by a Consumer, ClaimMinIdle by a TopicConsumer), which
// is what the option interfaces exist to prevent. A throwaway module
// using this one is built twice: the right kinds compile, the wrong ones
// fail naming the missing method.
func TestOptionsOfTheWrongKindDoNotCompile(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	repo, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(repo, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module probe\n\ngo 1.26\n\nrequire github.com/redstream-go/redstream v0.0.0\n\n"+
		"replace github.com/redstream-go/redstream => "+repo+"\n")
	write("go.sum", string(sum))
	const header = "package main\n\nimport (\n\t\"time\"\n\n\t\"github.com/redstream-go/redstream\"\n)\n\n"
	write("good/main.go", header+`func main() {
	_, _ = redstream.NewConsumer(nil, "s", "g", nil, redstream.ClaimMinIdle(time.Second), redstream.Concurrency(1))
	_, _ = redstream.NewTopicConsumer(nil, nil, "g", nil, redstream.Lease(time.Second), redstream.Concurrency(1))
}
`)
	write("bad/main.go", header+`func main() {
	_, _ = redstream.NewConsumer(nil, "s", "g", nil, redstream.Lease(time.Second))
	_, _ = redstream.NewTopicConsumer(nil, nil, "g", nil, redstream.ClaimMinIdle(time.Second))
}
`)
	build := func(pkg string) (string, error) {
		cmd := exec.Command(goBin, "build", "-o", os.DevNull, pkg)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := build("./good"); err != nil {
		t.Fatalf("the control program with options of the right kinds does not build: %v\n%s", err, out)
	}
	out, err := build("./bad")
	if err == nil {
		t.Fatal("Lease passed to NewConsumer and ClaimMinIdle to NewTopicConsumer compiled")
	}
	for _, want := range []string{
		"redstream.TopicConsumerOption does not implement redstream.ConsumerOption (missing method applyToConsumer)",
		"redstream.ConsumerOption does not implement redstream.TopicConsumerOption (missing method applyToTopic)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the build's errors do not say %q:\n%s", want, out)
		}
	}
}
