package redstreamui_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	"github.com/redstream-go/redstream/redstreamui"
)

// dash is a dashboard under test: a real redis-server, the handler on an
// httptest server, and a browser-like client with a cookie jar.
type dash struct {
	t      *testing.T
	redis  *redstreamtest.Server
	client rueidis.Client
	srv    *httptest.Server
	http   *http.Client
}

func newDash(t *testing.T, opts ...redstreamui.Option) *dash {
	t.Helper()
	r := redstreamtest.StartRedis(t)
	return newDashOn(t, r, opts...)
}

func newDashOn(t *testing.T, r *redstreamtest.Server, opts ...redstreamui.Option) *dash {
	t.Helper()
	c := r.Client(t)
	h, err := redstreamui.Handler(c, opts...)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	t.Cleanup(func() { _ = h.(io.Closer).Close() })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &dash{t: t, redis: r, client: c, srv: srv, http: browser(t)}
}

func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: time.Minute}
}

// page is one answer of the dashboard.
type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL // after redirects
}

func (d *dash) get(path string) page {
	d.t.Helper()
	return d.do(http.MethodGet, path, nil, nil)
}

func (d *dash) post(path string, form url.Values) page {
	d.t.Helper()
	return d.do(http.MethodPost, path, form, nil)
}

func (d *dash) do(method, path string, form url.Values, header http.Header) page {
	d.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, d.srv.URL+path, body)
	if err != nil {
		d.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := d.http.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(b), url: resp.Request.URL}
}

// ok fetches path and fails the test unless it answers 200.
func (d *dash) ok(path string) string {
	d.t.Helper()
	p := d.get(path)
	if p.status != http.StatusOK {
		d.t.Fatalf("GET %s: status %d, want 200\n%s", path, p.status, p.body)
	}
	return p.body
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf returns the CSRF token of a page's forms.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page has no CSRF field:\n%s", body)
	}
	return m[1]
}

func (d *dash) xadd(stream string, fv ...string) string {
	d.t.Helper()
	id, err := d.redis.Do(d.t, append([]string{"XADD", stream, "*"}, fv...)...).ToString()
	if err != nil {
		d.t.Fatalf("XADD %s: %v", stream, err)
	}
	return id
}

func (d *dash) must(args ...string) {
	d.t.Helper()
	if err := d.redis.Do(d.t, args...).Error(); err != nil {
		d.t.Fatalf("%v: %v", args, err)
	}
}

// deadLetter writes a dead letter of stream in the library's layout and
// returns its ID in the dead-letter stream.
func (d *dash) deadLetter(stream, origID string, fv ...string) string {
	d.t.Helper()
	return d.xadd(redstream.DeadLetterKey(stream), append([]string{
		redstream.DeadFieldID, origID,
		redstream.DeadFieldStream, stream,
		redstream.DeadFieldGroup, "workers",
		redstream.DeadFieldConsumer, "worker-1",
		redstream.DeadFieldDeliveries, "5",
		redstream.DeadFieldError, "boom <b>bold</b>",
		redstream.DeadFieldTime, time.Now().UTC().Format(time.RFC3339Nano),
	}, fv...)...)
}

func (d *dash) xlen(stream string) int64 {
	d.t.Helper()
	n, err := d.redis.Do(d.t, "XLEN", stream).AsInt64()
	if err != nil {
		d.t.Fatalf("XLEN %s: %v", stream, err)
	}
	return n
}

func (d *dash) entries(stream string) []rueidis.XRangeSlice {
	d.t.Helper()
	es, err := d.redis.Do(d.t, "XRANGE", stream, "-", "+").AsXRangeSlices()
	if err != nil {
		d.t.Fatalf("XRANGE %s: %v", stream, err)
	}
	return es
}

// overviewJSON is the part of /api/overview the tests read.
type overviewJSON struct {
	Streams []struct {
		Stream string `json:"stream"`
		Length int64  `json:"length"`
		Dead   int64  `json:"dead"`
		InRate string `json:"in_rate"`
		Chart  struct {
			Lines []string `json:"lines"`
		} `json:"chart"`
		Groups []struct {
			Group     string `json:"group"`
			Lag       string `json:"lag"`
			Pending   int64  `json:"pending"`
			Consumers int    `json:"consumers"`
		} `json:"groups"`
	} `json:"streams"`
	Error string `json:"error"`
}

func (d *dash) overview() overviewJSON {
	d.t.Helper()
	p := d.get("/api/overview")
	if p.status != http.StatusOK {
		d.t.Fatalf("/api/overview: %d %s", p.status, p.body)
	}
	var o overviewJSON
	if err := json.Unmarshal([]byte(p.body), &o); err != nil {
		d.t.Fatalf("/api/overview: %v\n%s", err, p.body)
	}
	return o
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func wantContains(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func wantNot(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s contains %q:\n%s", what, b, body)
		}
	}
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func errorsIsInvalid(err error) bool { return errors.Is(err, redstream.ErrInvalidOption) }
