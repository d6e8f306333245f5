package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// result is what one in-process run of the CLI produced.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// cli runs the command line args in-process with stdin and an empty
// environment (so a REDIS_URL of the machine never leaks in).
func cli(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	return cliEnv(t, nil, stdin, args...)
}

// cliEnv is cli with the given environment variables.
func cliEnv(t *testing.T, env map[string]string, stdin io.Reader, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := newApp(fakeEnv(env), stdin, &out, &errb).execute(ctxT(t, 2*time.Minute), args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func fakeEnv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// client returns a client of srv, closed when the test ends.
func client(t *testing.T, url string) rueidis.Client {
	t.Helper()
	c, err := redstream.Dial(ctxT(t, 10*time.Second), url, redstream.Standalone())
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c
}

func do(t *testing.T, c rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	return c.Do(ctxT(t, 10*time.Second), c.B().Arbitrary(args...).Build())
}

// entries returns every entry of stream, in order.
func entries(t *testing.T, c rueidis.Client, stream string) []rueidis.XRangeSlice {
	t.Helper()
	es, err := do(t, c, "XRANGE", stream, "-", "+").AsXRangeSlices()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", stream, err)
	}
	return es
}

// pendingCount returns the group's pending count from XPENDING.
func pendingCount(t *testing.T, c rueidis.Client, stream, group string) int64 {
	t.Helper()
	arr, err := do(t, c, "XPENDING", stream, group).ToArray()
	if err != nil {
		t.Fatalf("XPENDING %s %s: %v", stream, group, err)
	}
	n, err := arr[0].AsInt64()
	if err != nil {
		t.Fatalf("XPENDING count: %v", err)
	}
	return n
}

// startRedis starts a real redis-server for the test.
func startRedis(t *testing.T) *redstreamtest.Server {
	t.Helper()
	return redstreamtest.StartRedis(t)
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// wantOneErrorLine checks that stderr holds exactly one line, the
// "redstream: ..." error, and that it contains each of want.
func wantOneErrorLine(t *testing.T, r result, want ...string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "redstream: ") || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one \"redstream: ...\" line:\n%s", r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not mention %q:\n%s", w, r)
		}
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stderr holds a stack trace:\n%s", r)
	}
}

// lockedBuffer is a bytes.Buffer that a running command may write while
// the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background runs a command line in a goroutine until its context is
// canceled; wait returns its result.
type background struct {
	cancel         context.CancelFunc
	stdout, stderr *lockedBuffer
	done           chan int
}

func startCLI(t *testing.T, env map[string]string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan int, 1)}
	go func() {
		b.done <- newApp(fakeEnv(env), strings.NewReader(""), b.stdout, b.stderr).execute(ctx, args)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(30 * time.Second):
			t.Errorf("%v did not return 30s after its context ended", args)
		}
	})
	return b
}

// stop cancels the command's context, as SIGINT would, and waits for it.
func (b *background) stop(t *testing.T) result {
	t.Helper()
	b.cancel()
	select {
	case code := <-b.done:
		b.done <- code // for the cleanup
		return result{code: code, stdout: b.stdout.String(), stderr: b.stderr.String()}
	case <-time.After(30 * time.Second):
		t.Fatalf("command did not return 30s after its context ended\nstdout:\n%s\nstderr:\n%s", b.stdout, b.stderr)
		return result{}
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
