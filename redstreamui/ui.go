// Package redstreamui is a web dashboard for redstream: an http.Handler
// that shows streams, consumer groups, pending entries, dead letters,
// topics and the server, with live numbers and rate charts, and lets an
// operator replay or purge dead letters and manage groups.
//
// Everything is served from the binary (html/template, embedded CSS and a
// little JavaScript, no third-party code). It reads and changes Redis only
// through the library's Inspector and DeadLetterQueue, never on its own.
//
// Mount it in a server of your own, behind your authentication or with
// Token or BasicAuth:
//
//	h, err := redstreamui.Handler(client, redstreamui.Token(os.Getenv("UI_TOKEN")))
//	if err != nil { ... }
//	mux.Handle("/redstream/", http.StripPrefix("/redstream", h))
//
// Security: every state change is a POST carrying a CSRF token (403
// without); ReadOnly removes every action and refuses every POST; every
// value read from Redis is escaped; responses carry a Content-Security-
// Policy without inline script, X-Frame-Options DENY, and no-store.
// Tokens and passwords are compared in constant time.
package redstreamui

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
)

// Option configures the dashboard. Options validate their values and
// make Handler return an error matching redstream.ErrInvalidOption.
type Option func(*config) error

type config struct {
	readOnly     bool
	token        string
	basicUser    string
	basicPass    string
	deadSuffix   string
	redisURL     string
	sampleEvery  time.Duration
	history      time.Duration
	maxStreams   int
	logger       *slog.Logger
	hasBasicAuth bool
	hosts        []string // AllowedHosts; nil: the default (see hostAllowed)
}

// ReadOnly makes the dashboard show no action at all (no button, no
// form that changes anything) and refuse every POST with 403.
func ReadOnly() Option {
	return func(c *config) error { c.readOnly = true; return nil }
}

// Token requires a bearer token on every request: the header
// "Authorization: Bearer <token>", or "?token=<token>" once in a browser,
// which then gets a session cookie (and a redirect to the same page
// without the token in its address). Requests without it get 401. With
// BasicAuth as well, either one is accepted.
func Token(token string) Option {
	return func(c *config) error {
		if strings.TrimSpace(token) == "" {
			return fmt.Errorf("%w: the dashboard token must not be empty", redstream.ErrInvalidOption)
		}
		c.token = token
		return nil
	}
}

// BasicAuth requires HTTP basic authentication with user and password on
// every request; requests without them get 401. The user must not
// contain ':' and neither may be empty.
func BasicAuth(user, password string) Option {
	return func(c *config) error {
		if user == "" || password == "" || strings.Contains(user, ":") {
			return fmt.Errorf("%w: basic auth needs a user without ':' and a password, both non-empty", redstream.ErrInvalidOption)
		}
		c.basicUser, c.basicPass, c.hasBasicAuth = user, password, true
		return nil
	}
}

// DeadLetterSuffix names each stream's dead-letter stream
// "<stream><suffix>", as redstream.DeadLetterSuffix does for consumers
// (default redstream.DefaultDeadLetterSuffix, ":dead").
func DeadLetterSuffix(s string) Option {
	return func(c *config) error {
		if s == "" {
			return fmt.Errorf("%w: the dead-letter suffix must not be empty", redstream.ErrInvalidOption)
		}
		c.deadSuffix = s
		return nil
	}
}

// RedisURL shows on the server page which Redis the dashboard reads, with
// any password replaced (url.URL.Redacted). Without it the page shows
// only the cluster nodes' addresses.
func RedisURL(u string) Option {
	return func(c *config) error {
		p, err := url.Parse(u)
		if err != nil {
			return fmt.Errorf("%w: redis URL: cannot be parsed", redstream.ErrInvalidOption)
		}
		c.redisURL = p.Redacted()
		return nil
	}
}

// SampleEvery sets how often the dashboard samples every stream for its
// rate charts and live numbers, from 500ms to 1m (default 2s). Sampling
// runs while the dashboard is used and stops 10 minutes after the last
// request.
func SampleEvery(d time.Duration) Option {
	return func(c *config) error {
		if d < 500*time.Millisecond || d > time.Minute {
			return fmt.Errorf("%w: sample interval %v must be between 500ms and 1m", redstream.ErrInvalidOption, d)
		}
		c.sampleEvery = d
		return nil
	}
}

// ChartHistory sets how far back the rate charts reach, from 1m to 1h
// (default 10m). The samples of that span are kept in memory.
func ChartHistory(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Minute || d > time.Hour {
			return fmt.Errorf("%w: chart history %v must be between 1m and 1h", redstream.ErrInvalidOption, d)
		}
		c.history = d
		return nil
	}
}

// MaxStreams bounds how many streams the overview samples, from 1 to
// 10000 (default 500); the overview says when there are more.
func MaxStreams(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 10000 {
			return fmt.Errorf("%w: max streams %d must be between 1 and 10000", redstream.ErrInvalidOption, n)
		}
		c.maxStreams = n
		return nil
	}
}

// WithLogger sets where the dashboard logs failed samples and actions
// (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", redstream.ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// AllowedHosts sets the host names (the Host header, without its port;
// IP addresses too) the dashboard answers; "*" answers any. By default a
// dashboard with Token or BasicAuth answers any host, and one without
// answers only loopback names (localhost, 127.0.0.0/8, ::1): otherwise a
// web page its user visits could point its own host name at 127.0.0.1
// (DNS rebinding), become same-origin with the dashboard and act through
// it. Give the names it is reached by when it sits behind a proxy without
// auth. Other hosts get 421 Misdirected Request.
func AllowedHosts(hosts ...string) Option {
	return func(c *config) error {
		if len(hosts) == 0 {
			return fmt.Errorf("%w: AllowedHosts needs at least one host", redstream.ErrInvalidOption)
		}
		for _, h := range hosts {
			if h == "" || strings.ContainsAny(h, " /:") && net.ParseIP(h) == nil {
				return fmt.Errorf("%w: allowed host %q must be a host name or IP address, without a port", redstream.ErrInvalidOption, h)
			}
			c.hosts = append(c.hosts, strings.ToLower(h))
		}
		return nil
	}
}

// hostAllowed reports whether the dashboard answers a request for host
// (a Host header, with or without its port).
func (c *config) hostAllowed(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	if c.hosts == nil {
		if c.token != "" || c.hasBasicAuth {
			return true
		}
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	for _, h := range c.hosts {
		if h == "*" || h == host {
			return true
		}
		if a, b := net.ParseIP(h), net.ParseIP(host); a != nil && b != nil && a.Equal(b) {
			return true
		}
	}
	return false
}

// ui is the dashboard handler.
type ui struct {
	cfg     config
	client  rueidis.Client
	in      *redstream.Inspector
	secret  []byte // keys CSRF tokens and session cookies; per handler
	sampler *sampler
	mux     *http.ServeMux
}

// Handler returns the dashboard for client. The handler also implements
// io.Closer: Close stops its background sampling (which otherwise stops
// by itself 10 minutes after the last request). It never closes client.
// It is safe for concurrent use.
func Handler(client rueidis.Client, opts ...Option) (http.Handler, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: the dashboard needs a Redis client", redstream.ErrInvalidOption)
	}
	cfg := config{
		deadSuffix:  redstream.DefaultDeadLetterSuffix,
		sampleEvery: 2 * time.Second,
		history:     10 * time.Minute,
		maxStreams:  500,
		logger:      slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, secret); err != nil {
		return nil, fmt.Errorf("redstream: dashboard secret: %w", err)
	}
	u := &ui{
		cfg:    cfg,
		client: client,
		in:     redstream.NewInspector(client, redstream.InspectDeadLetterSuffix(cfg.deadSuffix)),
		secret: secret,
	}
	u.sampler = newSampler(u.in, cfg)
	u.routes()
	return u, nil
}

// Close stops the background sampling. It is idempotent; the handler
// keeps serving and starts sampling again on the next request.
func (u *ui) Close() error {
	u.sampler.stop()
	return nil
}

func (u *ui) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", u.page(u.overview))
	m.HandleFunc("GET /stream", u.page(u.streamPage))
	m.HandleFunc("GET /pending", u.page(u.pendingPage))
	m.HandleFunc("GET /dead", u.page(u.deadPage))
	m.HandleFunc("GET /dead/entry", u.page(u.deadEntryPage))
	m.HandleFunc("GET /topics", u.page(u.topicsPage))
	m.HandleFunc("GET /topic", u.page(u.topicPage))
	m.HandleFunc("GET /server", u.page(u.serverPage))
	m.HandleFunc("GET /api/overview", u.apiOverview)
	m.HandleFunc("GET /api/tail", u.apiTail)
	m.Handle("GET /static/", staticHandler())
	m.HandleFunc("POST /action/{name}", u.action)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		u.notFound(w, r)
	})
	u.mux = m
}

// ServeHTTP applies the security layer (headers, authentication, the
// read-only and CSRF checks) and then serves the page or action.
func (u *ui) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w)
	if !u.cfg.hostAllowed(r.Host) {
		http.Error(w, "misdirected request: this dashboard does not answer for host "+strconv.Quote(r.Host)+" (see AllowedHosts)", http.StatusMisdirectedRequest)
		return
	}
	if !u.authenticate(w, r) {
		return
	}
	if r.Method == http.MethodPost {
		if u.cfg.readOnly {
			http.Error(w, "forbidden: the dashboard is read-only", http.StatusForbidden)
			return
		}
		if !u.validCSRF(r) {
			http.Error(w, "forbidden: missing or invalid CSRF token (reload the page and try again)", http.StatusForbidden)
			return
		}
	}
	u.sampler.touch()
	u.mux.ServeHTTP(w, r)
}

// base returns the path prefix the handler is mounted under (by
// http.StripPrefix), so links work wherever it is mounted.
func base(r *http.Request) string {
	full := r.URL.Path
	if req, err := url.ParseRequestURI(r.RequestURI); err == nil && req.Path != "" {
		full = req.Path
	}
	if b, ok := strings.CutSuffix(full, r.URL.Path); ok {
		return strings.TrimSuffix(b, "/")
	}
	return ""
}

// errNotFound marks a missing page or object (404).
var errNotFound = errors.New("not found")
