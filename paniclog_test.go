package redstream_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

// logBuffer collects JSON log records from the consumer's goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(l, nil)) }

// records returns the logged records whose message contains msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	text := l.b.String()
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if m, _ := r["msg"].(string); strings.Contains(m, msg) {
			out = append(out, r)
		}
	}
	return out
}

// Named so that a logged stack can be recognised by the frame of the
// handler that panicked.
func panickingHandlerForTheLog(context.Context, *redstream.Message) error { panic("boom") }

// checkStacks fails unless every record has a stack through the named
// function, and there are want of them.
func checkStacks(t *testing.T, records []map[string]any, what, fn string, want int) {
	t.Helper()
	if len(records) != want {
		t.Fatalf("%d %q log lines, want %d", len(records), what, want)
	}
	for _, r := range records {
		stack, _ := r["stack"].(string)
		if !strings.Contains(stack, fn) {
			t.Fatalf("the %q log line has no stack through %s: %v", what, fn, r)
		}
	}
}

// Catches: a panicking handler logged with its value only ("handler
// panicked: boom"), which leaves no way to find where it panicked; and,
// for a batch, the stack repeated on every entry's line.
func TestPanickingHandlersAreLoggedWithTheirStack(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	retry := redstream.RetryBackoff(5*time.Millisecond, 5*time.Millisecond)

	t.Run("consumer", func(t *testing.T) {
		var logs logBuffer
		stream := key(t, "s")
		publishN(t, c, stream, 1)
		cons, err := redstream.NewConsumer(c, stream, "g", redstream.HandlerFunc(panickingHandlerForTheLog),
			redstream.StartID("0"), redstream.MaxDeliveries(2), retry, redstream.WithLogger(logs.logger()))
		if err != nil {
			t.Fatal(err)
		}
		runConsumer(t, cons)
		waitFor(t, 20*time.Second, "the entry dead-lettered", func() bool { return cons.Stats().DeadLettered == 1 })
		checkStacks(t, logs.records(t, "will retry"), "will retry", "panickingHandlerForTheLog", 1)
		checkStacks(t, logs.records(t, "dead-lettering the entry"), "dead-lettering", "panickingHandlerForTheLog", 1)
	})

	t.Run("topic consumer", func(t *testing.T) {
		var logs logBuffer
		ctx := ctxT(t, time.Minute)
		top, err := redstream.CreateTopic(ctx, c, key(t, "topic"), 2)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := redstream.NewPublisher(c)
		if _, err := p.PublishTopic(ctx, top, redstream.KeyedEntry{Key: "k", Fields: redstream.Fields("n", "1")}); err != nil {
			t.Fatal(err)
		}
		tc, err := redstream.NewTopicConsumer(c, top, "g", redstream.HandlerFunc(panickingHandlerForTheLog),
			redstream.MaxDeliveries(2), retry, redstream.WithLogger(logs.logger()))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- tc.Run(context.Background()) }()
		defer func() { tc.Close(); <-done }()
		waitFor(t, 30*time.Second, "the event dead-lettered", func() bool { return tc.Stats().DeadLettered == 1 })
		checkStacks(t, logs.records(t, "retrying in order"), "retrying in order", "panickingHandlerForTheLog", 1)
		checkStacks(t, logs.records(t, "dead-lettering the event"), "dead-lettering", "panickingHandlerForTheLog", 1)
	})

	t.Run("batch consumer", func(t *testing.T) {
		var logs logBuffer
		stream := key(t, "s")
		publishN(t, c, stream, 3)
		var calls atomic.Int64
		h := redstream.BatchHandlerFunc(func(ctx context.Context, msgs []*redstream.Message) error {
			calls.Add(1)
			return panickingHandlerForTheLog(ctx, msgs[0])
		})
		cons, err := redstream.NewBatchConsumer(c, stream, "g", h, redstream.StartID("0"), redstream.MaxDeliveries(1),
			redstream.WithLogger(logs.logger()))
		if err != nil {
			t.Fatal(err)
		}
		runConsumer(t, cons)
		waitFor(t, 20*time.Second, "the entries dead-lettered", func() bool { return cons.Stats().DeadLettered == 3 })
		// One stack per panic, on the batch's line; not one per entry.
		checkStacks(t, logs.records(t, "batch handler panicked"), "batch handler panicked", "panickingHandlerForTheLog", int(calls.Load()))
		entries := logs.records(t, "dead-lettering the entry")
		if len(entries) != 3 {
			t.Fatalf("%d entry log lines, want 3", len(entries))
		}
		for _, r := range entries {
			if _, ok := r["stack"]; ok {
				t.Fatalf("an entry's line repeats the batch's stack: %v", r)
			}
		}
	})
}
