package redstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// DefaultDialTimeout bounds how long Dial waits for a server to accept the
// connection and answer a PING.
const DefaultDialTimeout = 5 * time.Second

// DialOption configures Dial.
type DialOption func(*dialConfig) error

type dialConfig struct {
	timeout    time.Duration
	tls        *tls.Config
	caFile     string
	certFile   string
	keyFile    string
	skipVerify bool
	standalone bool
	clientName string
}

// DialTimeout bounds the connection attempt and the first PING (default
// DefaultDialTimeout). It must be positive.
func DialTimeout(d time.Duration) DialOption {
	return func(c *dialConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: dial timeout must be positive, got %v", ErrInvalidOption, d)
		}
		c.timeout = d
		return nil
	}
}

// TLSCAFile verifies a rediss:// server against the PEM certificates in
// path instead of the system's roots.
func TLSCAFile(path string) DialOption {
	return func(c *dialConfig) error {
		if path == "" {
			return fmt.Errorf("%w: empty CA file path", ErrInvalidOption)
		}
		c.caFile = path
		return nil
	}
}

// TLSClientCert presents the PEM certificate and key to a rediss:// server
// that asks for client certificates.
func TLSClientCert(certFile, keyFile string) DialOption {
	return func(c *dialConfig) error {
		if certFile == "" || keyFile == "" {
			return fmt.Errorf("%w: client certificate needs both a cert and a key file", ErrInvalidOption)
		}
		c.certFile, c.keyFile = certFile, keyFile
		return nil
	}
}

// TLSInsecureSkipVerify turns off verification of the server's certificate.
// Use it only for tests against self-signed servers.
func TLSInsecureSkipVerify() DialOption {
	return func(c *dialConfig) error {
		c.skipVerify = true
		return nil
	}
}

// WithTLSConfig uses cfg for rediss:// connections instead of one built from
// the other TLS options. Dial clones it before use.
func WithTLSConfig(cfg *tls.Config) DialOption {
	return func(c *dialConfig) error {
		if cfg == nil {
			return fmt.Errorf("%w: nil TLS config", ErrInvalidOption)
		}
		c.tls = cfg.Clone()
		return nil
	}
}

// Standalone skips the Redis Cluster probe and treats the server as a
// single node. Servers that answer CLUSTER commands without being a real
// cluster (some embedded test servers) need it.
func Standalone() DialOption {
	return func(c *dialConfig) error {
		c.standalone = true
		return nil
	}
}

// ClientName sets the name the connections report in CLIENT LIST.
func ClientName(name string) DialOption {
	return func(c *dialConfig) error {
		if strings.ContainsAny(name, " \n\r\t") {
			return fmt.Errorf("%w: client name %q contains spaces", ErrInvalidOption, name)
		}
		c.clientName = name
		return nil
	}
}

// ParseURL checks a Redis URL and turns it into rueidis client options.
// It accepts redis://[user:pass@]host[:port][/db] and the same with
// rediss:// for TLS; the port defaults to 6379 and the database to 0.
// Errors match ErrInvalidURL and never contain the password.
func ParseURL(rawURL string) (rueidis.ClientOption, error) {
	fail := func(why string) (rueidis.ClientOption, error) {
		return rueidis.ClientOption{}, fmt.Errorf("%w %q: %s", ErrInvalidURL, redactURL(rawURL), why)
	}
	if strings.TrimSpace(rawURL) == "" {
		return fail("empty URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return fail("cannot parse it (want redis://host:port/db)")
	}
	switch u.Scheme {
	case "redis", "rediss":
	case "":
		return fail("missing scheme (want redis:// or rediss://)")
	default:
		return fail(fmt.Sprintf("unsupported scheme %q (want redis:// or rediss://)", u.Scheme))
	}
	if u.Opaque != "" {
		return fail("missing // after the scheme")
	}
	if u.Hostname() == "" {
		return fail("missing host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail(fmt.Sprintf("port %q is not a number between 1 and 65535", p))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fail("empty port")
	}
	if path := strings.TrimPrefix(u.Path, "/"); path != "" {
		n, err := strconv.Atoi(path)
		if err != nil || n < 0 {
			return fail(fmt.Sprintf("database %q is not a non-negative number", path))
		}
	}
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		return fail(err.Error())
	}
	return opt, nil
}

// redactURL hides the password of a URL for error messages.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		if i := strings.LastIndex(rawURL, "@"); i >= 0 {
			return "…@" + rawURL[i+1:]
		}
		return rawURL
	}
	return u.Redacted()
}

// Dial connects to the Redis server at rawURL and checks it answers. It
// returns a rueidis client that the caller owns and must Close; redstream
// never closes a client it did not open. A bad URL fails at once with
// ErrInvalidURL; an unreachable or silent server fails with ErrUnreachable
// within the dial timeout (DefaultDialTimeout unless DialTimeout is given)
// or when ctx ends, whichever comes first. A server that refuses the
// URL's settings (a database number it does not have) or a rediss:// URL
// for a server that does not speak TLS fails with ErrConfig; the latter
// says so within about a second instead of waiting for the timeout. Wrong
// credentials fail with ErrAuth. Redis Cluster is detected and served by a
// cluster-aware client.
func Dial(ctx context.Context, rawURL string, opts ...DialOption) (rueidis.Client, error) {
	cfg := dialConfig{timeout: DefaultDialTimeout}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	opt, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opt.TLSConfig != nil {
		if opt.TLSConfig, err = cfg.tlsConfig(opt.TLSConfig); err != nil {
			return nil, err
		}
	} else if cfg.tls != nil || cfg.caFile != "" || cfg.certFile != "" || cfg.skipVerify {
		return nil, fmt.Errorf("%w: TLS options need a rediss:// URL, got %s", ErrInvalidOption, redactURL(rawURL))
	}
	opt.DisableCache = true // redstream never reads through the client-side cache
	if opt.TLSConfig != nil {
		opt.DialCtxFn = dialTLS
	}
	opt.Dialer.Timeout = cfg.timeout
	opt.ForceSingleClient = cfg.standalone
	if cfg.clientName != "" {
		opt.ClientName = cfg.clientName
	}

	where := redactURL(rawURL)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	type result struct {
		c   rueidis.Client
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(opt)
		done <- result{c, err}
	}()
	var client rueidis.Client
	select {
	case r := <-done:
		if r.err != nil {
			return nil, dialErr(where, r.err)
		}
		client = r.c
	case <-ctx.Done():
		go func() { // the handshake may still finish; do not leak its client
			if r := <-done; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, dialErr(where, ctx.Err())
	}
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, dialErr(where, err)
	}
	return client, nil
}

// tlsHint is what a failed dial says when the server does not speak TLS
// although the URL asked for it.
const tlsHint = "TLS handshake failed: is the server speaking TLS? (rediss:// asks for TLS)"

// errPlainServer reports a server that answered a plain RESP PING while
// a TLS handshake with it went unanswered.
var errPlainServer = errors.New("the server answers plain (unencrypted) Redis commands")

func dialErr(where string, err error) error {
	if errors.Is(err, context.Canceled) {
		return &Error{Op: "dial", Key: where, Err: err}
	}
	var rhe tls.RecordHeaderError
	if errors.Is(err, errPlainServer) || errors.As(err, &rhe) {
		// A plain server either answers the handshake's bytes with a RESP
		// error (not a TLS record) or stays silent; dialTLS finds the latter.
		return &Error{Op: "dial", Key: where, Kind: ErrConfig, Err: fmt.Errorf("%s: %w", tlsHint, err)}
	}
	kind := classify(err)
	if kind == nil {
		kind = ErrUnreachable
		if _, ok := rueidis.IsRedisErr(err); ok {
			// The server answered, refusing a setting of the connection,
			// such as SELECT of a database it does not have.
			kind = ErrConfig
		}
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		err = fmt.Errorf("no answer in time (timeout): %w", err)
	}
	return &Error{Op: "dial", Key: where, Kind: kind, Err: err}
}

// plainProbeAfter is how long a TLS handshake may go unanswered before
// dialTLS checks whether the server speaks plain RESP instead. A real TLS
// server that is merely slow is not harmed by the check: it refuses the
// probe's connection and the handshake goes on.
const plainProbeAfter = 500 * time.Millisecond

// dialTLS connects and runs the TLS handshake, as rueidis does for a
// rediss:// URL, bounded by the dialer's timeout. A plain Redis server
// waits silently for the end of a line that the TLS client hello seldom
// contains, so a handshake still unanswered after plainProbeAfter is
// checked with a plain PING on a second connection: a RESP answer ends the
// dial at once with errPlainServer instead of a timeout.
func dialTLS(ctx context.Context, dst string, dialer *net.Dialer, cfg *tls.Config) (net.Conn, error) {
	if dialer.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialer.Timeout)
		defer cancel()
	}
	raw, err := dialer.DialContext(ctx, "tcp", dst)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(dst)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	conn := tls.Client(raw, cfg)
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- conn.HandshakeContext(hctx) }()
	probe := time.NewTimer(plainProbeAfter)
	defer probe.Stop()
	select {
	case err = <-done:
	case <-probe.C:
		if speaksPlainRESP(hctx, dialer, dst) {
			stop()
			<-done
			err = errPlainServer
		} else {
			err = <-done
		}
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// speaksPlainRESP reports whether the server at dst answers a plain PING
// with a RESP simple string or error, as a Redis server without TLS does
// ("+PONG", "-NOAUTH ..."). A TLS server answers with an alert record or
// closes the connection.
func speaksPlainRESP(ctx context.Context, dialer *net.Dialer, dst string) bool {
	c, err := dialer.DialContext(ctx, "tcp", dst)
	if err != nil {
		return false
	}
	defer c.Close()
	unblock := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer unblock()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return false
	}
	return b[0] == '+' || b[0] == '-'
}

func (cfg *dialConfig) tlsConfig(base *tls.Config) (*tls.Config, error) {
	t := base
	if cfg.tls != nil {
		t = cfg.tls.Clone()
		if t.ServerName == "" {
			t.ServerName = base.ServerName
		}
	}
	if cfg.skipVerify {
		t.InsecureSkipVerify = true
	}
	if cfg.caFile != "" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: read CA file: %w", ErrInvalidOption, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: CA file %s holds no PEM certificate", ErrInvalidOption, cfg.caFile)
		}
		t.RootCAs = pool
	}
	if cfg.certFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.certFile, cfg.keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: load client certificate: %w", ErrInvalidOption, err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// ServerInfo names the server software and version behind a client.
type ServerInfo struct {
	Name    string // "redis", "valkey", or "" when unknown
	Version string // as the server reports it, "" when unknown
	major   int
	minor   int
}

// String formats the name and version, e.g. "redis 7.0.15".
func (s ServerInfo) String() string {
	if s.Version == "" {
		return "unknown server"
	}
	return s.Name + " " + s.Version
}

// Known reports whether the version could be read.
func (s ServerInfo) Known() bool { return s.Version != "" }

// AtLeast reports whether the server is Redis major.minor or newer (or a
// Redis-compatible server claiming that). An unknown version is assumed
// recent: commands are tried and their errors reported.
func (s ServerInfo) AtLeast(major, minor int) bool {
	if !s.Known() {
		return true
	}
	return s.major > major || s.major == major && s.minor >= minor
}

// ServerVersion reads the server's name and version from INFO server.
// Valkey reports the Redis version it is compatible with, which is the
// one compared by AtLeast.
func ServerVersion(ctx context.Context, client rueidis.Client) (ServerInfo, error) {
	txt, err := client.Do(ctx, client.B().Info().Section("server").Build()).ToString()
	if err != nil {
		return ServerInfo{}, wrapErr("info server", "", err)
	}
	info := ServerInfo{Name: "redis"}
	for _, line := range strings.Split(txt, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "redis_version":
			info.Version = v
		case "server_name":
			info.Name = v
		case "valkey_version":
			info.Name = "valkey"
		}
	}
	if info.Version == "" {
		return ServerInfo{}, nil
	}
	parts := strings.SplitN(info.Version, ".", 3)
	info.major, _ = strconv.Atoi(parts[0])
	if len(parts) > 1 {
		info.minor, _ = strconv.Atoi(parts[1])
	}
	return info, nil
}

// serverInfo is ServerVersion that treats failure as an unknown version.
func serverInfo(ctx context.Context, client rueidis.Client) ServerInfo {
	s, _ := ServerVersion(ctx, client)
	return s
}
