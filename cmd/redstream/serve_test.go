package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestServeRefusesANonLoopbackAddressWithoutAuth(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080", "example.com:8080"} {
		r := cli(t, nil, "serve", "--redis", "redis://"+closedPort(t), "--addr", addr)
		if r.code != exitUsage {
			t.Errorf("serve --addr %s without auth: %s", addr, r)
			continue
		}
		wantOneErrorLine(t, r, "--addr", "--token", "--basic-auth", "--insecure-no-auth")
	}
	for _, args := range [][]string{
		{"--basic-auth", "nocolon"},
		{"--basic-auth", ":pass"},
		{"--basic-auth", "user:"},
		{"--addr", "nonsense"},
	} {
		r := cli(t, nil, append([]string{"serve", "--redis", "redis://" + closedPort(t)}, args...)...)
		if r.code != exitUsage {
			t.Errorf("serve %v: %s", args, r)
		}
	}
}

// dashboardURL waits for serve to print where it listens.
func dashboardURL(t *testing.T, b *background) string {
	t.Helper()
	re := regexp.MustCompile(`at (http://[^ ]+/) for `)
	var url string
	waitFor(t, time.Minute, "serve to print its address", func() bool {
		if m := re.FindStringSubmatch(b.stdout.String()); m != nil {
			url = m[1]
			return true
		}
		return false
	})
	return url
}

func httpGet(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestServeNeedsItsTokenAndHidesTheRedisPassword(t *testing.T) {
	srv := startRedis(t)
	if err := srv.Do(t, "ACL", "SETUSER", "ops", "on", ">hunter2", "~*", "&*", "+@all").Error(); err != nil {
		t.Fatal(err)
	}
	redisURL := "redis://ops:hunter2@" + srv.Addr()
	// Beyond loopback, with a token from the environment.
	b := startCLI(t, map[string]string{"REDSTREAM_UI_TOKEN": "tok-123"}, "serve", "--redis", redisURL, "--addr", "0.0.0.0:0")
	url := dashboardURL(t, b)
	url = strings.Replace(url, "0.0.0.0", "127.0.0.1", 1)
	url = strings.Replace(url, "[::]", "127.0.0.1", 1)

	if code, _ := httpGet(t, url, nil); code != http.StatusUnauthorized {
		t.Errorf("GET without the token: %d, want 401", code)
	}
	code, body := httpGet(t, url+"server", http.Header{"Authorization": {"Bearer tok-123"}})
	if code != http.StatusOK {
		t.Fatalf("GET /server with the token: %d\n%s", code, body)
	}
	if !strings.Contains(body, "ops:xxxxx@") || strings.Contains(body, "hunter2") {
		t.Errorf("server page shows the Redis URL unredacted, or not at all:\n%s", body)
	}
	r := b.stop(t)
	if r.code != exitOK {
		t.Errorf("serve after SIGINT: %s", r)
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2") || strings.Contains(r.stdout+r.stderr, "tok-123") {
		t.Errorf("serve printed a secret:\n%s", r)
	}
	if !strings.Contains(r.stdout, "redis://ops:xxxxx@") {
		t.Errorf("serve does not say which Redis it reads:\n%s", r)
	}
}

func TestServeReadOnlyOnLoopback(t *testing.T) {
	srv := startRedis(t)
	b := startCLI(t, nil, "serve", "--redis", "redis://"+srv.Addr(), "--addr", "127.0.0.1:0", "--read-only")
	url := dashboardURL(t, b)
	if code, body := httpGet(t, url, nil); code != http.StatusOK || strings.Contains(body, `class="action`) {
		t.Errorf("read-only overview: %d\n%s", code, body)
	}
	resp, err := http.Post(url+"action/purge-all", "application/x-www-form-urlencoded", strings.NewReader("stream=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST to a read-only dashboard: %d, want 403", resp.StatusCode)
	}
	if r := b.stop(t); r.code != exitOK || !strings.Contains(r.stdout, "(read-only)") {
		t.Errorf("serve --read-only: %s", r)
	}
}

func TestServeInsecureNoAuthIsExplicit(t *testing.T) {
	srv := startRedis(t)
	b := startCLI(t, nil, "serve", "--redis", "redis://"+srv.Addr(), "--addr", "0.0.0.0:0", "--insecure-no-auth")
	dashboardURL(t, b)
	if r := b.stop(t); r.code != exitOK || !strings.Contains(r.stdout, "warning") {
		t.Errorf("serve --insecure-no-auth: %s", r)
	}
}
