package redstreamotel_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamotel"
	"github.com/redstream-go/redstream/redstreamtest"
)

// TestTraceparentFromRedisCLIContinuesIntoTheHandler: an entry written by
// hand with redis-cli, with a traceparent header, is handled in a span of
// that trace whose parent is the span the header names.
func TestTraceparentFromRedisCLIContinuesIntoTheHandler(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	tr := newTracing(t)
	stream := t.Name()
	const traceID, spanID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"

	_, port, err := net.SplitHostPort(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(redisCLI(t), "-p", port, "XADD", stream, "*",
		"redstream:h:traceparent", "00-"+traceID+"-"+spanID+"-01", "ticket", "42").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v: %s", err, out)
	}
	got := make(chan *redstream.Message, 1)
	cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(_ context.Context, m *redstream.Message) error {
		got <- m
		return nil
	}), redstream.StartID("0"), redstream.WithMetrics(tr.hooks))
	if err != nil {
		t.Fatal(err)
	}
	run(t, cons)
	process := tr.one(t, "process "+stream)
	if m := <-got; len(m.Fields) != 1 || m.Value("ticket") != "42" {
		t.Errorf("the handler got fields %v, want only ticket=42", m.Fields)
	}
	if got := process.SpanContext().TraceID().String(); got != traceID {
		t.Errorf("process span in trace %s, want the hand-written %s", got, traceID)
	}
	if got := process.Parent().SpanID().String(); got != spanID {
		t.Errorf("process span's parent %s, want the hand-written %s", got, spanID)
	}
	if !process.Parent().IsRemote() {
		t.Error("the parent is not marked remote")
	}
}

// redisCLI finds redis-cli beside redis-server, or on PATH.
func redisCLI(t *testing.T) string {
	t.Helper()
	if server, err := exec.LookPath("redis-server"); err == nil {
		cli := filepath.Join(filepath.Dir(server), "redis-cli")
		if _, err := os.Stat(cli); err == nil {
			return cli
		}
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Fatalf("redis-cli not found beside redis-server or on PATH: %s", redstreamtest.InstallHint)
	}
	return cli
}

// The cross-process test runs a publisher and a consumer as processes of
// their own: the test binary starts itself again with roleEnv set, and
// TestMain hands over to runRole, which exports its spans as JSON lines
// to the file in spansEnv.
const (
	roleEnv   = "REDSTREAMOTEL_ROLE"
	urlEnv    = "REDSTREAMOTEL_URL"
	streamEnv = "REDSTREAMOTEL_STREAM"
	spansEnv  = "REDSTREAMOTEL_SPANS"
)

// TestCrossProcessTrace: a span published in one process is continued by
// the handler's span in another, through nothing but the entry in Redis.
func TestCrossProcessTrace(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	stream := t.Name()
	dir := t.TempDir()
	runProcess := func(role string) []spanLine {
		t.Helper()
		file := filepath.Join(dir, role+".jsonl")
		ctx := ctxT(t, 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), roleEnv+"="+role, urlEnv+"="+srv.URL(), streamEnv+"="+stream, spansEnv+"="+file)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s process: %v\n%s", role, err, out)
		}
		return readSpans(t, file)
	}
	pubSpans := runProcess("publisher")
	consSpans := runProcess("consumer")
	if len(pubSpans) != 1 || pubSpans[0].Name != "send "+stream || pubSpans[0].Kind != trace.SpanKindProducer.String() {
		t.Fatalf("publisher spans %+v, want one producer span %q", pubSpans, "send "+stream)
	}
	if len(consSpans) != 1 || consSpans[0].Name != "process "+stream {
		t.Fatalf("consumer spans %+v, want one span %q", consSpans, "process "+stream)
	}
	send, process := pubSpans[0], consSpans[0]
	if process.TraceID != send.TraceID {
		t.Errorf("consumer span in trace %s, want the publisher's %s", process.TraceID, send.TraceID)
	}
	if process.Parent != send.SpanID {
		t.Errorf("consumer span's parent %s, want the publisher's span %s", process.Parent, send.SpanID)
	}
}

// spanLine is one span as the role processes write it.
type spanLine struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	Parent  string `json:"parent_span_id"`
}

func readSpans(t *testing.T, file string) []spanLine {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []spanLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var s spanLine
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fileExporter writes each span as a JSON line.
type fileExporter struct {
	mu  sync.Mutex
	enc *json.Encoder
	f   *os.File
}

func (e *fileExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		line := spanLine{Name: s.Name(), Kind: s.SpanKind().String(),
			TraceID: s.SpanContext().TraceID().String(), SpanID: s.SpanContext().SpanID().String()}
		if s.Parent().IsValid() {
			line.Parent = s.Parent().SpanID().String()
		}
		if err := e.enc.Encode(line); err != nil {
			return err
		}
	}
	return nil
}

func (e *fileExporter) Shutdown(context.Context) error { return e.f.Close() }

// runRole is the body of a publisher or consumer process.
func runRole(role string) int {
	if err := roleMain(role); err != nil {
		fmt.Fprintln(os.Stderr, role+":", err)
		return 1
	}
	return 0
}

func roleMain(role string) error {
	f, err := os.Create(os.Getenv(spansEnv))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(&fileExporter{enc: json.NewEncoder(f), f: f}))
	defer tp.Shutdown(context.Background())
	hooks, err := redstreamotel.New(redstreamotel.WithTracerProvider(tp))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := redstream.Dial(ctx, os.Getenv(urlEnv))
	if err != nil {
		return err
	}
	defer client.Close()
	stream := os.Getenv(streamEnv)
	switch role {
	case "publisher":
		pub, err := redstream.NewPublisher(client, redstream.WithPublishMetrics(hooks))
		if err != nil {
			return err
		}
		_, err = pub.Publish(ctx, stream, redstream.Fields("k", "v"))
		return err
	case "consumer":
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		cons, err := redstream.NewConsumer(client, stream, "g", redstream.HandlerFunc(func(context.Context, *redstream.Message) error {
			stop()
			return nil
		}), redstream.StartID("0"), redstream.WithMetrics(hooks))
		if err != nil {
			return err
		}
		if err := cons.Run(runCtx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cons.Stats().Handled != 1 {
			return fmt.Errorf("handled %d entries, want 1", cons.Stats().Handled)
		}
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}
