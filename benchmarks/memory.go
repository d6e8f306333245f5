package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/internal/bench"
)

// The memory figure runs in a child process: the same executable (the
// benchmark binary, or the test binary in main_test.go) started again with
// childEnv set. Its peak RSS (VmHWM) then covers only filling and
// consuming the backlog, not the other measurements of this run.
const (
	childEnv       = "REDSTREAM_BENCH_CHILD"
	childURLEnv    = "REDSTREAM_BENCH_URL"
	childStreamEnv = "REDSTREAM_BENCH_STREAM"
	childNEnv      = "REDSTREAM_BENCH_N"
	childSizeEnv   = "REDSTREAM_BENCH_SIZE"
)

type memoryFigures struct {
	Heap bench.Result `json:"heap"`
	RSS  bench.Result `json:"rss"`
}

func isChild() bool { return os.Getenv(childEnv) == "memory" }

func runMemoryChild(ctx context.Context, url, stream string, n, size int) (memoryFigures, error) {
	var m memoryFigures
	exe, err := os.Executable()
	if err != nil {
		return m, fmt.Errorf("find own executable for the memory child: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(),
		childEnv+"=memory", childURLEnv+"="+url, childStreamEnv+"="+stream,
		childNEnv+"="+strconv.Itoa(n), childSizeEnv+"="+strconv.Itoa(size))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return m, fmt.Errorf("memory child: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(stdout.Bytes(), &m); err != nil {
		return m, fmt.Errorf("memory child printed %q: %w", stdout.String(), err)
	}
	return m, nil
}

// childMain runs in the child: it consumes the backlog with bench.Memory
// and prints both figures as JSON.
func childMain() int {
	ctx := context.Background()
	n, _ := strconv.Atoi(os.Getenv(childNEnv))
	size, _ := strconv.Atoi(os.Getenv(childSizeEnv))
	c, err := redstream.Dial(ctx, os.Getenv(childURLEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	heap, err := bench.Memory(ctx, c, os.Getenv(childStreamEnv), n, size)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	heap.Note += "; sampled HeapInuse every 20ms"
	rss := bench.Result{Name: fmt.Sprintf("peak RSS consuming a %d-entry backlog", n), Unit: "MB",
		Note: "VmHWM of a process that only fills and consumes the backlog"}
	if kb, err := peakRSSKiB(); err != nil {
		rss.Note = "not available: " + err.Error()
	} else {
		rss.Value = float64(kb) / 1024
	}
	if err := json.NewEncoder(os.Stdout).Encode(memoryFigures{Heap: heap, RSS: rss}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// peakRSSKiB reads the process's peak resident set size from
// /proc/self/status (Linux only).
func peakRSSKiB() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM line in /proc/self/status")
}
