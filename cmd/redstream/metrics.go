package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream/redstreamprom"
)

const metricsAddrUsage = "serve Prometheus metrics at http://ADDR/metrics while the command runs (e.g. 127.0.0.1:9464; " +
	"an address that is not loopback, such as :9464, is reachable from the network and is warned about)"

// checkMetricsAddr checks a --metrics-addr value before anything starts.
func checkMetricsAddr(addr string) error {
	if addr == "" {
		return nil
	}
	return checkHostPort("metrics-addr", addr, "127.0.0.1:9464")
}

// metricsServer serves /metrics for the lifetime of a command.
type metricsServer struct {
	srv  *http.Server
	done chan struct{}
	addr string // the address it listens on, with the port chosen
}

// serveMetrics starts serving, on addr, the consumer and publisher
// metrics m, the Inspector's view of streams read through client (their
// dead letters under --dead-suffix), and the Go runtime's and the
// process's metrics. Stop ends it.
func (a *app) serveMetrics(addr string, client rueidis.Client, m *redstreamprom.Metrics, streams ...string) (*metricsServer, error) {
	ic, err := redstreamprom.NewInspectorCollector(a.inspector(client), redstreamprom.Streams(streams...))
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		m, ic,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s := &metricsServer{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
		addr: l.Addr().String(),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log().Error("serving metrics failed", "addr", s.addr, "err", err)
		}
	}()
	fmt.Fprintf(a.stderr, "serving metrics at http://%s/metrics\n", s.addr)
	if !boundToLoopback(l.Addr()) {
		fmt.Fprintf(a.stderr, "warning: --metrics-addr %s listens beyond this machine: anyone who can reach it can read the stream, group and consumer names and counts; use 127.0.0.1:PORT to keep it local\n", addr)
	}
	return s, nil
}

// boundToLoopback reports whether a listener's bound address stays on
// this machine: what the name resolved to counts, not how it was spelled
// ("LOCALHOST", or a "localhost" that /etc/hosts maps elsewhere).
func boundToLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// Stop ends the server, letting a scrape in progress finish briefly.
func (s *metricsServer) Stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
}
