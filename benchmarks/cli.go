package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redstream-go/redstream/internal/bench"
)

// cliConsume measures the CLI as someone who pipes a stream into a file
// runs it: the redstream binary, built from this checkout, runs
//
//	redstream consume --redis URL --stream S --group bench --from 0 \
//	    --consumer bench-cli --max n --json > file
//
// on a backlog of n entries (bench.Fill, --size payload). --max n makes it
// stop, gracefully, once it has handled n entries: for a backlog of n that
// is when the backlog is drained. Timed from starting the process to its
// exit, by which it has acknowledged what it handled; then nothing may be
// pending in the group and the file must hold n lines.
func cliConsume(ctx context.Context, e *env) error {
	dir, err := os.MkdirTemp("", "redstream-bench-cli-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := buildCLI(ctx, dir)
	if errors.Is(err, errNoCLI) {
		e.skip("CLI consume: " + err.Error() + "; its ratio is skipped")
		return nil
	}
	if err != nil {
		return err
	}

	stream, group, n := e.stream("cli-consume"), "bench", e.cfg.N
	if err := bench.Fill(ctx, e.rs, stream, n, e.cfg.Size); err != nil {
		return err
	}
	out, err := os.Create(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		return err
	}
	defer out.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "consume", "--redis", e.url, "--stream", stream, "--group", group,
		"--from", "0", "--consumer", "bench-cli", "--max", strconv.Itoa(n), "--json")
	cmd.Stdout, cmd.Stderr = out, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("redstream consume: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	elapsed := time.Since(start)

	left, err := bench.PendingCount(ctx, e.rs, stream, group)
	if err != nil {
		return err
	}
	if left != 0 {
		return fmt.Errorf("redstream consume exited with %d entries pending", left)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return err
	}
	lines, err := countLines(out)
	if err != nil {
		return err
	}
	if lines != n {
		return fmt.Errorf("redstream consume --json printed %d lines, want %d", lines, n)
	}
	e.add("redstream.cli.consume", sysRedstream, rate("CLI: redstream consume --json > file", n, elapsed,
		fmt.Sprintf("backlog %d, --max %d to stop when drained; process start to exit", n, n)))
	return nil
}

// errNoCLI means the CLI cannot be built here: no go command, or not run
// inside the benchmarks module.
var errNoCLI = errors.New("cannot build cmd/redstream")

// buildCLI builds cmd/redstream of the redstream module this binary was
// built against (its replace directive points at this checkout) into dir.
func buildCLI(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("%w: no go command on PATH", errNoCLI)
	}
	list := exec.CommandContext(ctx, goBin, "list", "-m", "-f", "{{.Dir}}", "github.com/redstream-go/redstream")
	modDir, err := list.Output()
	if err != nil || strings.TrimSpace(string(modDir)) == "" {
		return "", fmt.Errorf("%w: go list -m github.com/redstream-go/redstream failed (run from benchmarks/): %v", errNoCLI, err)
	}
	bin := filepath.Join(dir, "redstream")
	build := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/redstream")
	build.Dir = strings.TrimSpace(string(modDir))
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/redstream: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	lines := 0
	for {
		k, err := r.Read(buf)
		lines += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return lines, nil
		}
		if err != nil {
			return lines, err
		}
	}
}
