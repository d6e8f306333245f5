package redstreamwm_test

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamtest"
)

// restartAddr makes the test binary a client of restartService: the
// conformance suite runs Features.RestartServiceCommand as a separate
// process, so that command is this binary with this flag, asking the test
// process (which owns the redis-server) to kill and restart it.
var restartAddr = flag.String("redstreamwm.restart-redis", "", "internal: ask the test process at this address to SIGKILL and restart its redis-server, then exit")

func TestMain(m *testing.M) {
	flag.Parse()
	if *restartAddr != "" {
		if err := requestRestart(*restartAddr); err != nil {
			fmt.Fprintln(os.Stderr, "restart redis:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func requestRestart(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write([]byte("restart\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "ok" {
		return fmt.Errorf("%s", line)
	}
	return nil
}

// restartService listens on a loopback port for restart requests and
// answers each after srv was killed with SIGKILL and started again on the
// same port with its append-only file. It returns the command that sends
// one request.
func restartService(t *testing.T, srv *redstreamtest.Server) []string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // restarts requested together run one after the other
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
					return
				}
				mu.Lock()
				srv.Kill()
				err := srv.Server.Restart()
				mu.Unlock()
				if err != nil {
					t.Errorf("restart redis-server: %v", err)
					fmt.Fprintf(conn, "error: %v\n", err)
					return
				}
				fmt.Fprintln(conn, "ok")
			})
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe, "-redstreamwm.restart-redis=" + l.Addr().String()}
}
