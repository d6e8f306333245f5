package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeOnLoopbackRefusesAForeignHost: a dashboard on 127.0.0.1 without
// auth answers only requests addressed to a loopback name. Otherwise a web
// page the operator visits can rebind its own host name to 127.0.0.1 (DNS
// rebinding) and, being same-origin with the dashboard, read its pages and
// CSRF token and post actions: here it purges the dead letters.
func TestServeOnLoopbackRefusesAForeignHost(t *testing.T) {
	srv := startRedis(t)
	for i := 0; i < 3; i++ {
		if err := srv.Do(t, "XADD", "orders:dead", "*", "dead.id", "1-1", "order", "o-1").Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Do(t, "XADD", "orders", "*", "order", "o-2").Error(); err != nil {
		t.Fatal(err)
	}
	b := startCLI(t, nil, "serve", "--redis", "redis://"+srv.Addr(), "--addr", "127.0.0.1:0")
	base := dashboardURL(t, b)
	defer b.stop(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	// What the attacker's page at http://rebound.evil.example:<port>/ sends
	// once its name resolves to 127.0.0.1: the browser's Host is its own.
	foreign := "rebound.evil.example:" + u.Port()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: time.Minute}
	do := func(method, path string, body io.Reader) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+strings.TrimPrefix(path, "/"), body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = foreign
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do(http.MethodGet, "/dead?stream=orders", nil)
	if code == http.StatusOK {
		t.Errorf("GET /dead with Host %s: 200, want a refusal (such as 421 or 403)", foreign)
	}
	if m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body); m != nil {
		do(http.MethodPost, "/action/purge-all", strings.NewReader(url.Values{"csrf": {m[1]}, "stream": {"orders"}}.Encode()))
	}
	n, err := srv.Do(t, "XLEN", "orders:dead").AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("a page under a foreign host name purged the dead letters: %d left, want 3", n)
	}
}
