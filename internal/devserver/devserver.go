// Package devserver runs an embedded, in-memory Redis-compatible server
// (miniredis) for the redstream CLI's demo and dev-server commands, so the
// seed's flow works without installing Redis. Nothing it holds is
// persisted: everything is lost when it stops.
//
// It differs from a bare miniredis in three ways, all to look like a
// single, non-cluster Redis to clients:
//
//   - CLUSTER commands fail as on a Redis without cluster support, so
//     clients that probe for a cluster (rueidis does) use one connection
//     pool instead of treating the server as a one-node cluster.
//   - XINFO GROUPS reports each group's lag as unknown (nil), as Redis does
//     when it cannot tell; miniredis would report the stream's length,
//     which is wrong once a group has read anything. Readers such as
//     redstream's Inspector then count the lag themselves.
//   - INFO server answers with the Redis version whose stream commands
//     miniredis implements (EmulatedVersion), so clients that pick
//     features by version (redstream's consumer uses XAUTOCLAIM from 6.2)
//     do not take it for an old server; miniredis rejects the section.
//     Outside MULTI only: inside a transaction INFO server still fails.
package devserver

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/alicebob/miniredis/v2"
	"github.com/alicebob/miniredis/v2/server"
)

// EmulatedVersion is the redis_version the server reports in INFO server:
// the Redis release whose stream commands miniredis implements, such as
// XAUTOCLAIM replies with the deleted IDs.
const EmulatedVersion = "7.0.0"

// Server is a running embedded server. Its methods are safe for
// concurrent use.
type Server struct {
	m    *miniredis.Miniredis
	addr string
	once sync.Once
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves
// until Close. It fails when the address cannot be listened on, for
// instance because another server already uses it.
func Start(addr string) (*Server, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s := &Server{m: m, addr: m.Addr()}
	s.m.Server().SetPreHook(newHook(s.m.Server()))
	return s, nil
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.addr }

// Close stops the server and drops its connections and data. It is safe
// to call more than once.
func (s *Server) Close() {
	s.once.Do(s.m.Close)
}

// lagField matches the lag of one group in miniredis' XINFO GROUPS reply,
// which it always writes as an integer: the bulk string "lag" followed by
// an integer reply. A group's name is followed by a bulk string, never an
// integer, so a group called "lag" does not match.
var lagField = regexp.MustCompile(`\$3\r\nlag\r\n:-?[0-9]+\r\n`)

// newHook returns the pre-hook that gives srv the behaviour described in
// the package comment. It returns true when it answered the command
// itself.
func newHook(srv *server.Server) server.Hook {
	var inner sync.Map // peers of our own nested dispatches: not hooked again
	return func(p *server.Peer, cmd string, args ...string) bool {
		if _, nested := inner.Load(p); nested {
			return false
		}
		switch {
		case cmd == "INFO" && len(args) == 1 && strings.EqualFold(args[0], "server"):
			p.WriteBulk("# Server\r\nredis_version:" + EmulatedVersion + "\r\nredis_mode:standalone\r\nserver_name:miniredis\r\n")
			return true
		case cmd == "CLUSTER":
			p.WriteError("ERR This instance has cluster support disabled")
			return true
		case cmd == "XINFO" && len(args) > 0 && strings.EqualFold(args[0], "GROUPS"):
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			sub := server.NewPeer(w)
			sub.Resp3, sub.Ctx = p.Resp3, p.Ctx // same protocol, database and transaction
			inner.Store(sub, true)
			srv.Dispatch(sub, append([]string{cmd}, args...))
			inner.Delete(sub)
			sub.Flush()
			null := "$-1\r\n"
			if p.Resp3 {
				null = "_\r\n"
			}
			p.WriteRaw(lagField.ReplaceAllLiteralString(buf.String(), "$3\r\nlag\r\n"+null))
			return true
		}
		return false
	}
}
