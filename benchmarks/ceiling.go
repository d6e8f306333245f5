package main

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/redstream-go/redstream/internal/bench"
)

// ceiling runs redis-benchmark's custom-command form, 50 clients each
// pipelining 50 XADDs:
//
//	redis-benchmark -h H -p P -n N -P 50 -c 50 -q XADD <stream> * payload <value>
//
// It is what the server does with no client library in the way. Without
// redis-benchmark on PATH the figure and its ratios are skipped.
func ceiling(ctx context.Context, e *env) error {
	bin, err := exec.LookPath("redis-benchmark")
	if err != nil {
		e.skip("ceiling: redis-benchmark is not on PATH (apt-get install redis-tools); ceiling ratios skipped")
		return nil
	}
	args, err := benchmarkConnArgs(e.url)
	if err != nil {
		e.skip("ceiling: " + err.Error())
		return nil
	}
	stream := e.stream("ceiling")
	args = append(args, "-n", strconv.Itoa(e.cfg.CeilingN), "-P", "50", "-c", "50", "-q",
		"XADD", stream, "*", "payload", bench.Payload(e.cfg.Size))
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-benchmark: %w: %s", err, lastLine(string(out)))
	}
	rps, err := parseRequestsPerSecond(string(out))
	if err != nil {
		return err
	}
	e.add("ceiling.xadd", sysCeiling, bench.Result{
		Name: "XADD, 50 clients × pipeline 50", Value: rps, Unit: "msgs/s",
		Note: fmt.Sprintf("redis-benchmark -n %d -P 50 -c 50", e.cfg.CeilingN),
	})
	return nil
}

var rpsRE = regexp.MustCompile(`([0-9]+(?:\.[0-9]+)?) requests per second`)

// parseRequestsPerSecond reads the final "…: NNNN.NN requests per second"
// line of redis-benchmark -q; progress lines before it end in \r.
func parseRequestsPerSecond(out string) (float64, error) {
	m := rpsRE.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("redis-benchmark printed no \"requests per second\": %s", lastLine(out))
	}
	return strconv.ParseFloat(m[len(m)-1][1], 64)
}

// benchmarkConnArgs turns a redis:// URL into redis-benchmark's options.
func benchmarkConnArgs(raw string) ([]string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "redis" {
		return nil, fmt.Errorf("redis-benchmark is only run for redis:// URLs, not %s://", u.Scheme)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "6379"
	}
	if host == "" {
		host = "127.0.0.1"
	}
	args := []string{"-h", host, "-p", port}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok {
			args = append(args, "-a", pw)
			if name := u.User.Username(); name != "" && name != "default" {
				args = append(args, "--user", name)
			}
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" && db != "0" {
		args = append(args, "--dbnum", db)
	}
	return args, nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r", "\n"))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
