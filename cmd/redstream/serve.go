package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/redstream-go/redstream/redstreamui"
)

// serveCmd runs the web dashboard.
func (a *app) serveCmd() *cobra.Command {
	var (
		addr, token, basic   string
		readOnly, insecureOK bool
	)
	cmd := &cobra.Command{
		Use:   "serve [--addr 127.0.0.1:8080] [--token T | --basic-auth user:pass] [--read-only]",
		Short: "Serve the web dashboard: streams, groups, pending entries, dead letters, topics, server",
		Long: `serve runs the web dashboard until SIGINT or SIGTERM: every stream of
--redis with its groups, live numbers and rate charts; entries, pending
entries and dead letters; topics and the server. Dead letters can be
replayed and purged, groups created, moved and deleted, each after a
confirmation.

It listens on 127.0.0.1:8080 by default. An --addr that is reachable
from other machines is refused unless the dashboard asks for a token
(--token, or $REDSTREAM_UI_TOKEN: send "Authorization: Bearer T", or open
the dashboard once with ?token=T) or a password (--basic-auth user:pass),
or --insecure-no-auth says that the network is trusted. --read-only shows
no action at all and refuses every change. Put a TLS proxy in front of a
dashboard reached over a network.`,
		Example: "  redstream serve\n" +
			"  REDSTREAM_UI_TOKEN=$(openssl rand -hex 16) redstream serve --addr :8080\n" +
			"  redstream serve --read-only --basic-auth ops:secret --addr 10.0.0.5:8080",
		Args: cobra.NoArgs,
		RunE: a.runE(func(c *cobra.Command, _ []string) error {
			opts, err := serveOptions(addr, token, basic, readOnly, insecureOK, a.getenv)
			if err != nil {
				return err
			}
			client, err := a.connect(c)
			if err != nil {
				return err
			}
			defer client.Close()
			redisURL, _, _ := a.redis(c)
			if redisURL == "" {
				redisURL = defaultRedisURL
			}
			opts = append(opts, redstreamui.DeadLetterSuffix(a.deadSuffix), redstreamui.RedisURL(redisURL),
				redstreamui.WithLogger(a.log()))
			h, err := redstreamui.Handler(client, opts...)
			if err != nil {
				return err
			}
			defer h.(interface{ Close() error }).Close()
			return a.serveHTTP(c.Context(), addr, h, redisURL, readOnly)
		}),
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "the host:port to listen on (port 0 picks a free one)")
	cmd.Flags().StringVar(&token, "token", "", "require this bearer token (default $REDSTREAM_UI_TOKEN)")
	cmd.Flags().StringVar(&basic, "basic-auth", "", "require HTTP basic authentication as user:password")
	cmd.Flags().BoolVar(&readOnly, "read-only", false, "show no actions and refuse every change")
	cmd.Flags().BoolVar(&insecureOK, "insecure-no-auth", false, "allow an --addr beyond loopback without --token or --basic-auth")
	return cmd
}

// serveOptions checks serve's flags before anything starts and turns them
// into dashboard options.
func serveOptions(addr, token, basic string, readOnly, insecureOK bool, getenv func(string) string) ([]redstreamui.Option, error) {
	if err := checkHostPort("addr", addr, "127.0.0.1:8080"); err != nil {
		return nil, err
	}
	if token == "" {
		token = getenv("REDSTREAM_UI_TOKEN")
	}
	var opts []redstreamui.Option
	if token != "" {
		opts = append(opts, redstreamui.Token(token))
	}
	if basic != "" {
		user, pass, ok := strings.Cut(basic, ":")
		if !ok || user == "" || pass == "" {
			return nil, usagef("--basic-auth needs user:password, both non-empty")
		}
		opts = append(opts, redstreamui.BasicAuth(user, pass))
	}
	if readOnly {
		opts = append(opts, redstreamui.ReadOnly())
	}
	host, _, _ := net.SplitHostPort(addr)
	if !isLoopback(host) && token == "" && basic == "" && !insecureOK {
		return nil, usagef("--addr %s is reachable from other machines: give --token (or $REDSTREAM_UI_TOKEN) or --basic-auth, "+
			"or --insecure-no-auth if the network is trusted; or listen on 127.0.0.1", addr)
	}
	if !isLoopback(host) && token == "" && basic == "" {
		// No auth on a network the user trusts: answer whatever name the
		// machine is reached by. On loopback the dashboard answers loopback
		// names only, so no web page can rebind its own name to it.
		opts = append(opts, redstreamui.AllowedHosts("*"))
	}
	return opts, nil
}

// serveHTTP serves h on addr until ctx ends, then lets requests in
// flight finish briefly.
func (a *app) serveHTTP(ctx context.Context, addr string, h http.Handler, redisURL string, readOnly bool) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &cliError{msg: fmt.Sprintf("cannot listen on %s: the address is already in use (choose another with --addr)", addr), err: err}
		}
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()

	mode := ""
	if readOnly {
		mode = " (read-only)"
	}
	fmt.Fprintf(a.stdout, "redstream serve: dashboard%s at http://%s/ for %s\n", mode, l.Addr(), redactedURL(redisURL))
	if !boundToLoopback(l.Addr()) {
		fmt.Fprintf(a.stdout, "warning: %s is reachable from other machines; put a TLS proxy in front of it\n", addr)
	}
	fmt.Fprintln(a.stdout, "Ctrl-C stops it")

	select {
	case err := <-done:
		return fmt.Errorf("serving the dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	fmt.Fprintln(a.stdout, "dashboard stopped")
	return nil
}

// redactedURL shows a Redis URL without its password.
func redactedURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "the Redis server"
	}
	return u.Redacted()
}

// isLoopback reports whether host, of a listen address, stays on this
// machine: a loopback IP, or a name whose every address is loopback
// ("localhost", however spelled). An empty host means every interface.
func isLoopback(host string) bool {
	if host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
