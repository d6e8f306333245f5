// Package redstreamtest starts real redis-server processes for tests, the
// way net/http/httptest starts servers: each on a free loopback port with
// its own temporary directory, stopped when the test ends.
package redstreamtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/internal/redisproc"
)

// InstallHint says how to get redis-server when it is missing.
const InstallHint = redisproc.InstallHint

// Option configures StartRedis.
type Option func(*config)

type config struct {
	args []string
}

// AppendOnly turns on the append-only file with the given fsync policy
// ("always", "everysec" or "no"), so data survives a kill and restart.
func AppendOnly(fsync string) Option {
	return func(c *config) { c.args = append(c.args, "--appendonly", "yes", "--appendfsync", fsync) }
}

// Args passes extra command-line arguments to redis-server, such as
// "--maxmemory", "1mb".
func Args(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is a redis-server process started for a test.
type Server struct {
	*redisproc.Server
	tb testing.TB

	mu     sync.Mutex
	client rueidis.Client // for Do, made on first use
}

// StartRedis starts redis-server on a free loopback port with a fresh
// temporary directory and no snapshots, waits until it answers PING, and
// stops it (SIGKILL, then wait) when the test ends. A missing redis-server
// fails the test with InstallHint; it never skips.
func StartRedis(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	p, err := redisproc.Start(tb.TempDir(), cfg.args...)
	if errors.Is(err, redisproc.ErrNotInstalled) {
		tb.Fatal(InstallHint)
	}
	if err != nil {
		tb.Fatalf("redstreamtest: start redis-server: %v", err)
	}
	tb.Cleanup(p.Kill)
	return &Server{Server: p, tb: tb}
}

// Restart starts the server again on the same port and directory after
// Kill, so an append-only file written before is loaded.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.Server.Restart(); err != nil {
		s.tb.Fatalf("redstreamtest: restart redis-server: %v", err)
	}
}

// Signal sends sig to the running server, e.g. syscall.SIGSTOP.
func (s *Server) Signal(sig os.Signal) error { return s.Server.Signal(sig) }

// Client returns a rueidis client connected to the server, closed when
// the test ends.
func (s *Server) Client(tb testing.TB) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr()},
		DisableCache: true,
	})
	if err != nil {
		tb.Fatalf("redstreamtest: connect to %s: %v", s.Addr(), err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Do runs one command on the server and returns its reply.
func (s *Server) Do(tb testing.TB, args ...string) rueidis.RedisResult {
	tb.Helper()
	s.mu.Lock()
	if s.client == nil {
		s.client = s.Client(s.tb)
	}
	c := s.client
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Do(ctx, c.B().Arbitrary(args...).Build())
}
