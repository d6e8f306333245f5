package redstream_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// monitor records every command a server runs, as MONITOR reports it, so
// a test can check which commands a client sent and which ran inside a
// script: what only atomicity can promise is checked directly.
type monitor struct {
	srv  *redstreamtest.Server
	conn net.Conn

	mu   sync.Mutex
	cmds []monitored
	seen map[string]bool // markers seen
	err  error
}

// monitored is one command: its words, and whether a script ran it.
type monitored struct {
	lua  bool
	args []string
}

func (m monitored) String() string {
	src := "client"
	if m.lua {
		src = "lua"
	}
	return fmt.Sprintf("[%s] %q", src, m.args)
}

// startMonitor starts recording srv's commands; it stops when the test ends.
func startMonitor(t *testing.T, srv *redstreamtest.Server) *monitor {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("MONITOR\r\n")); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	r := bufio.NewReaderSize(conn, 1<<20)
	if line, err := r.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("monitor: %q %v", line, err)
	}
	m := &monitor{srv: srv, conn: conn, seen: map[string]bool{}}
	go m.read(r)
	return m
}

func (m *monitor) read(r *bufio.Reader) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			return
		}
		c, ok := parseMonitorLine(strings.TrimRight(line, "\r\n"))
		if !ok {
			continue
		}
		m.mu.Lock()
		if len(c.args) == 2 && strings.EqualFold(c.args[0], "echo") && strings.HasPrefix(c.args[1], "monitor-marker-") {
			m.seen[c.args[1]] = true
		} else {
			m.cmds = append(m.cmds, c)
		}
		m.mu.Unlock()
	}
}

var markerSeq struct {
	sync.Mutex
	n int
}

// commands returns every command the server ran up to now: it sends a
// marker and waits until the marker comes back, so nothing run before
// the call is missing.
func (m *monitor) commands(t *testing.T) []monitored {
	t.Helper()
	markerSeq.Lock()
	markerSeq.n++
	marker := fmt.Sprintf("monitor-marker-%d", markerSeq.n)
	markerSeq.Unlock()
	if err := m.srv.Do(t, "ECHO", marker).Error(); err != nil {
		t.Fatalf("monitor marker: %v", err)
	}
	waitFor(t, 10*time.Second, "the monitor marker", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.err != nil {
			t.Fatalf("monitor: %v", m.err)
		}
		return m.seen[marker]
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]monitored(nil), m.cmds...)
}

// parseMonitorLine reads `+1700000000.123456 [0 127.0.0.1:5000] "XACK" "s"`;
// a script's commands say "[0 lua]".
func parseMonitorLine(line string) (monitored, bool) {
	open := strings.IndexByte(line, '[')
	end := strings.Index(line, "] ")
	if !strings.HasPrefix(line, "+") || open < 0 || end < open {
		return monitored{}, false
	}
	c := monitored{lua: strings.HasSuffix(line[open:end], " lua")}
	rest := line[end+2:]
	for len(rest) > 0 {
		if rest[0] == ' ' {
			rest = rest[1:]
			continue
		}
		word, n, ok := unquoteRepr(rest)
		if !ok {
			return monitored{}, false
		}
		c.args = append(c.args, word)
		rest = rest[n:]
	}
	return c, len(c.args) > 0
}

// unquoteRepr reads one of Redis's quoted strings (sdscatrepr) at the start
// of s and returns it and how many bytes it took.
func unquoteRepr(s string) (string, int, bool) {
	if s == "" || s[0] != '"' {
		return "", 0, false
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch ch := s[i]; ch {
		case '"':
			return b.String(), i + 1, true
		case '\\':
			if i+1 >= len(s) {
				return "", 0, false
			}
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'a':
				b.WriteByte('\a')
			case 'b':
				b.WriteByte('\b')
			case 'x':
				if i+2 >= len(s) {
					return "", 0, false
				}
				v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
				if err != nil {
					return "", 0, false
				}
				b.WriteByte(byte(v))
				i += 2
			default:
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(ch)
		}
	}
	return "", 0, false
}

func TestParseMonitorLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want string
	}{
		{`+1700000000.123456 [0 127.0.0.1:5000] "XACK" "s" "g" "1-0"`, `[client] ["XACK" "s" "g" "1-0"]`},
		{`+1700000000.123456 [0 lua] "XADD" "s:dead" "*" "a\"b" "\\x\n\xff"`, `[lua] ["XADD" "s:dead" "*" "a\"b" "\\x\n\xff"]`},
		{`+1700000000.1 [3 unix:/tmp/r.sock] "PING"`, `[client] ["PING"]`},
	} {
		got, ok := parseMonitorLine(tc.line)
		if !ok || got.String() != tc.want {
			t.Errorf("parseMonitorLine(%s) = %s, %v; want %s", tc.line, got, ok, tc.want)
		}
	}
	for _, bad := range []string{`+OK`, `-ERR x`, `+1.0 [0 lua] "unterminated`} {
		if got, ok := parseMonitorLine(bad); ok {
			t.Errorf("parseMonitorLine(%s) = %s, want no command", bad, got)
		}
	}
}

// testLog is a logger that writes to the test's log, so a failing test
// shows what the library said.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
