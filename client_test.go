package redstream_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
)

func TestParseURLRejectsBadURLsWithoutLeakingPasswords(t *testing.T) {
	for _, tc := range []struct {
		name, url, want string
	}{
		{"empty", "", "empty URL"},
		{"no scheme", "localhost:6379", "unsupported scheme"},
		{"wrong scheme", "http://localhost:6379", "unsupported scheme"},
		{"no host", "redis://", "missing host"},
		{"bad port", "redis://localhost:abc", "cannot parse"},
		{"port out of range", "redis://localhost:70000", "port"},
		{"bad db", "redis://localhost:6379/x", "database"},
		{"nested path", "redis://localhost:6379/1/2", "database"},
		{"password hidden", "redis://user:s3cret@localhost:6379/x", "database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redstream.ParseURL(tc.url)
			if !errors.Is(err, redstream.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) error = %v, want ErrInvalidURL", tc.url, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestParseURLAcceptsRedisAndRediss(t *testing.T) {
	for _, tc := range []struct {
		url  string
		addr string
		db   int
		user string
		tls  bool
	}{
		{"redis://localhost:6380/2", "localhost:6380", 2, "", false},
		{"redis://u:p@127.0.0.1", "127.0.0.1:6379", 0, "u", false},
		{"rediss://cache.example:6390/0", "cache.example:6390", 0, "", true},
	} {
		opt, err := redstream.ParseURL(tc.url)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", tc.url, err)
		}
		if opt.InitAddress[0] != tc.addr || opt.SelectDB != tc.db || opt.Username != tc.user || (opt.TLSConfig != nil) != tc.tls {
			t.Errorf("ParseURL(%q) = addr %v db %d user %q tls %v", tc.url, opt.InitAddress, opt.SelectDB, opt.Username, opt.TLSConfig != nil)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"redis://localhost:6379/0", "rediss://u:p@h:1/2", "redis://", "http://x", "redis://[::1]:6379", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opt, err := redstream.ParseURL(s)
		if err != nil {
			if !errors.Is(err, redstream.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) error %v does not match ErrInvalidURL", s, err)
			}
			return
		}
		if len(opt.InitAddress) == 0 {
			t.Fatalf("ParseURL(%q) accepted a URL without an address", s)
		}
	})
}

func TestDialConnectsAndAnswers(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	if err := c.Do(ctxT(t, 5*time.Second), c.B().Ping().Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func TestDialRefusedPortFailsFastWithErrUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	_, err = redstream.Dial(ctxT(t, 30*time.Second), "redis://"+addr, redstream.DialTimeout(2*time.Second))
	if !errors.Is(err, redstream.ErrUnreachable) {
		t.Fatalf("Dial to a closed port: error = %v, want ErrUnreachable", err)
	}
}

func TestDialSilentServerTimesOut(t *testing.T) {
	// A server that accepts connections and never answers must not hang Dial.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := redstream.Dial(context.Background(), "redis://"+l.Addr().String(), redstream.DialTimeout(300*time.Millisecond))
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, redstream.ErrUnreachable) {
			t.Fatalf("error = %v, want ErrUnreachable", err)
		}
		if !strings.Contains(err.Error(), "timeout") {
			t.Errorf("error %q does not say it timed out", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Dial did not return although its timeout was 300ms")
	}
}

func TestDialHonoursContext(t *testing.T) {
	// A server that accepts connections and never answers: only the
	// context can end the dial before Dial's own timeout
	// (DefaultDialTimeout, which also bounds the first PING).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	rawURL := "redis://" + l.Addr().String()
	bound := redstream.DefaultDialTimeout / 2

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := redstream.Dial(ctx, rawURL)
		if took := time.Since(start); took > bound {
			t.Fatalf("Dial returned after %v; its context expired after 200ms", took)
		}
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, redstream.ErrUnreachable) {
			t.Fatalf("error = %v, want context.DeadlineExceeded and ErrUnreachable", err)
		}
	})
	t.Run("canceled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err := redstream.Dial(ctx, rawURL)
		if took := time.Since(start); took > bound {
			t.Fatalf("Dial returned after %v; its context was canceled before the call", took)
		}
		if !errors.Is(err, context.Canceled) || errors.Is(err, redstream.ErrUnreachable) {
			t.Fatalf("error = %v, want context.Canceled and not ErrUnreachable", err)
		}
	})
}

func TestDialOptionsValidate(t *testing.T) {
	for name, opt := range map[string]redstream.DialOption{
		"zero timeout":   redstream.DialTimeout(0),
		"empty CA":       redstream.TLSCAFile(""),
		"half cert":      redstream.TLSClientCert("c.pem", ""),
		"nil tls config": redstream.WithTLSConfig(nil),
	} {
		if _, err := redstream.Dial(context.Background(), "redis://127.0.0.1:1", opt); !errors.Is(err, redstream.ErrInvalidOption) {
			t.Errorf("%s: error = %v, want ErrInvalidOption", name, err)
		}
	}
	_, err := redstream.Dial(context.Background(), "rediss://127.0.0.1:1", redstream.TLSCAFile("/nonexistent/ca.pem"))
	if !errors.Is(err, redstream.ErrInvalidOption) {
		t.Errorf("missing CA file: error = %v, want ErrInvalidOption", err)
	}
}

func TestDialRejectsTLSOptionsWithoutTLS(t *testing.T) {
	_, err := redstream.Dial(context.Background(), "redis://127.0.0.1:1", redstream.TLSInsecureSkipVerify())
	if !errors.Is(err, redstream.ErrInvalidOption) {
		t.Fatalf("TLS option with redis://: error = %v, want ErrInvalidOption", err)
	}
}

func TestDialCanceledIsNotReportedAsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = redstream.Dial(ctx, "redis://"+l.Addr().String())
	if !errors.Is(err, context.Canceled) || errors.Is(err, redstream.ErrUnreachable) {
		t.Fatalf("canceled Dial: error = %v, want context.Canceled and not ErrUnreachable", err)
	}
}

func TestServerVersionReadsRedis(t *testing.T) {
	srv := sharedRedis(t)
	c := dial(t, srv)
	info, err := redstream.ServerVersion(ctxT(t, 5*time.Second), c)
	if err != nil {
		t.Fatal(err)
	}
	if !info.Known() || info.Name == "" || !info.AtLeast(6, 2) || info.AtLeast(99, 0) {
		t.Fatalf("ServerVersion = %+v (%s), want a known Redis 6.2+", info, info)
	}
	t.Logf("server: %s", info)
}

// Catches: a database the server does not have reported as unreachable
// (the server answered; retrying cannot help).
func TestDialDatabaseOutOfRangeIsAConfigError(t *testing.T) {
	srv := sharedRedis(t)
	_, err := redstream.Dial(ctxT(t, 30*time.Second), srv.URL()+"/99")
	if !errors.Is(err, redstream.ErrConfig) || errors.Is(err, redstream.ErrUnreachable) {
		t.Fatalf("Dial of database 99: error = %v, want ErrConfig and not ErrUnreachable", err)
	}
	if !strings.Contains(err.Error(), "DB index is out of range") {
		t.Errorf("error %q does not give the server's reason", err)
	}
}

// Catches: a rediss:// URL for a plain redis-server reported as a silent
// server ("no answer in time") without saying TLS is the problem. The
// TLS client hello holds a newline only by chance, so a plain server
// mostly stays silent; several dials make that case certain to be met.
func TestDialTLSToAPlainServerSaysSo(t *testing.T) {
	srv := sharedRedis(t)
	url := "rediss://" + strings.TrimPrefix(srv.URL(), "redis://")
	for i := range 4 {
		_, err := redstream.Dial(ctxT(t, 60*time.Second), url, redstream.TLSInsecureSkipVerify(), redstream.DialTimeout(20*time.Second))
		if !errors.Is(err, redstream.ErrConfig) || errors.Is(err, redstream.ErrUnreachable) {
			t.Fatalf("dial %d: rediss:// to a plain server: error = %v, want ErrConfig and not ErrUnreachable", i, err)
		}
		if !strings.Contains(err.Error(), "TLS handshake failed: is the server speaking TLS? (rediss:// asks for TLS)") {
			t.Fatalf("dial %d: error %q gives no TLS hint", i, err)
		}
	}
}
