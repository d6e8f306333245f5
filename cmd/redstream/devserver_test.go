package main

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

var serverURL = regexp.MustCompile(`redis://127\.0\.0\.1:[0-9]+`)

func TestDevServerServesUntilCanceled(t *testing.T) {
	t.Parallel()
	bg := startCLI(t, nil, "dev-server", "--addr", "127.0.0.1:0")
	var url string
	waitFor(t, 10*time.Second, "the dev-server's URL", func() bool {
		url = serverURL.FindString(bg.stdout.String())
		return url != ""
	})
	if !strings.Contains(bg.stdout.String(), "nothing is persisted") {
		t.Errorf("dev-server does not say nothing is persisted:\n%s", bg.stdout)
	}
	// A client that probes for a cluster (no Standalone) works too.
	c, err := redstream.Dial(ctxT(t, 10*time.Second), url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if got, err := c.Do(context.Background(), c.B().Ping().Build()).ToString(); err != nil || got != "PONG" {
		t.Errorf("PING = %q, %v", got, err)
	}
	c.Close()

	// The commands work against it.
	if r := cli(t, nil, "publish", "--redis", url, "--stream", "s", "--count", "3", "n={{seq}}"); r.code != exitOK {
		t.Fatalf("publish to the dev-server:\n%s", r)
	}
	if r := cli(t, nil, "consume", "--redis", url, "--stream", "s", "--group", "g", "--from", "0", "--max", "3"); r.code != exitOK || strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("consume from the dev-server:\n%s", r)
	}
	r := cli(t, nil, "info", "--redis", url, "--stream", "s")
	if r.code != exitOK || !regexp.MustCompile(`(?m)^  lag +0$`).MatchString(r.stdout) {
		t.Fatalf("info on the dev-server (lag must be 0, not the stream's length):\n%s", r)
	}

	res := bg.stop(t)
	if res.code != exitOK {
		t.Fatalf("dev-server stopped by its context:\n%s", res)
	}
	addr := strings.TrimPrefix(url, "redis://")
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after the dev-server stopped", addr)
	}
}

func TestDevServerAddressInUse(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := cli(t, nil, "dev-server", "--addr", l.Addr().String())
	if r.code != exitFailure {
		t.Fatalf("exit code %d, want %d\n%s", r.code, exitFailure, r)
	}
	wantOneErrorLine(t, r, "cannot listen on "+l.Addr().String(), "already in use")
}
