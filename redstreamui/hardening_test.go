package redstreamui_test

import (
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestActionBackRefusesControlCharacters: browsers drop tabs and newlines
// from a Location, so "/<TAB>/evil.example" is followed as
// "//evil.example", another site. The redirect after an action must stay
// within the dashboard for such a "back" too.
func TestActionBackRefusesControlCharacters(t *testing.T) {
	d := newDash(t)
	d.xadd("orders", "k", "v")
	token := csrf(t, d.ok("/stream?name=orders"))
	target, err := url.Parse(d.srv.URL + "/action/purge-all")
	if err != nil {
		t.Fatal(err)
	}
	for _, back := range []string{"/\t/evil.example/x", "/\x0b/evil.example/x", "/\x00/evil.example/x"} {
		form := url.Values{"csrf": {token}, "stream": {"none"}, "back": {back}}
		req, err := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range d.http.Jar.Cookies(target) {
			req.AddCookie(c)
		}
		// The transport, not the client: the client refuses to parse such
		// a Location, a browser follows it.
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Errorf("back=%q: the answer is malformed: %v", back, err)
			continue
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("back=%q: %d to %q, want 303 to /", back, resp.StatusCode, loc)
		}
	}
}

// TestPagesAnswerPromptlyWhenRedisIsDown: with Redis gone, every page says
// so at once. The client retries read-only commands until the context
// ends, so a page, and the overview's live refresh behind the sampler,
// waits the whole 30 s page timeout before it answers. The deadline here
// is a third of that, far above what a refused connection takes.
func TestPagesAnswerPromptlyWhenRedisIsDown(t *testing.T) {
	d := newDash(t)
	d.xadd("orders", "k", "v")
	d.ok("/") // the sampler has a good sample
	if err := d.redis.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "redis-server to be gone", func() bool {
		return d.client.Do(t.Context(), d.client.B().Ping().Build()).Error() != nil
	})
	d.http.Timeout = 10 * time.Second
	for _, path := range []string{"/stream?name=orders", "/dead?stream=orders", "/api/overview"} {
		req, err := http.NewRequest(http.MethodGet, d.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := d.http.Do(req)
		if err != nil {
			t.Errorf("GET %s with Redis down: %v", path, err)
			continue
		}
		resp.Body.Close()
		if path != "/api/overview" && resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET %s with Redis down: %d, want 502", path, resp.StatusCode)
		}
	}
}
