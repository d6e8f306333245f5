// Package redstreamtest starts real redis-server processes for tests, the
// way net/http/httptest starts servers: each on a free loopback port with
// its own temporary directory, stopped when the test ends.
package redstreamtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// InstallHint says how to get redis-server when it is missing.
const InstallHint = "redis-server not found in PATH: install it with `apt-get update && apt-get install -y redis-server` (Debian/Ubuntu), `brew install redis` (macOS), or run `make test`, which installs it"

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
	tb   testing.TB
	dir  string
	port int
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	client rueidis.Client // for Do, made on first use
}

// StartRedis starts redis-server on a free loopback port with a fresh
// temporary directory and no snapshots, waits until it answers PING, and
// stops it (SIGKILL, then wait) when the test ends. A missing redis-server
// fails the test with InstallHint; it never skips.
func StartRedis(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatal(InstallHint)
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{tb: tb, dir: tb.TempDir(), args: cfg.args}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ { // another process may grab the port first
		s.port, err = freePort()
		if err != nil {
			tb.Fatalf("redstreamtest: find a free port: %v", err)
		}
		if lastErr = s.start(bin); lastErr == nil {
			tb.Cleanup(s.Kill)
			return s
		}
	}
	tb.Fatalf("redstreamtest: start redis-server: %v", lastErr)
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(bin string) error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--daemonize", "no",
		"--protected-mode", "no",
	}
	args = append(args, s.args...)
	logPath := filepath.Join(s.dir, "redis.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", tail(logPath))
		default:
		}
		if ping(s.Addr(), time.Second) == nil {
			s.mu.Lock()
			s.cmd, s.exited = cmd, exited
			s.mu.Unlock()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return errors.New("redis-server did not answer PING within 10s")
}

func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected reply %q", strings.TrimSpace(line))
	}
	return nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, " | ")
}

// Addr returns the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL returns the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Dir returns the server's working directory (its AOF lives there).
func (s *Server) Dir() string { return s.dir }

// Pid returns the process ID of the running server, or 0 when it is not
// running.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Kill stops the server with SIGKILL and waits for it to exit. It is safe
// to call more than once.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Signal sends sig to the running server, e.g. syscall.SIGSTOP.
func (s *Server) Signal(sig os.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return errors.New("redstreamtest: server not running")
	}
	return s.cmd.Process.Signal(sig)
}

// Restart starts the server again on the same port and directory after
// Kill, so an append-only file written before is loaded.
func (s *Server) Restart() {
	s.tb.Helper()
	s.Kill()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.tb.Fatal(InstallHint)
	}
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger briefly
		if lastErr = s.start(bin); lastErr == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.tb.Fatalf("redstreamtest: restart redis-server: %v", lastErr)
}

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

// Do runs one command on the server through a short-lived connection and
// returns its reply; it fails the test on a connection error.
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
