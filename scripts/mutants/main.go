// Command mutants checks that the tests guard redstream's guarantees: it
// applies each deliberate bug listed in mutants.txt (beside this file) to a
// scratch copy of the tree, runs the tests that should catch it, and prints
// one line per mutation, "caught" or "survived". It exits non-zero when any
// mutation survived, no longer applies, or does not compile, and when the
// named tests fail on the unmutated tree (a failing test catches nothing).
//
// Run it from the repository root with `make mutants` or
//
//	go run ./scripts/mutants [-run REGEXP] [-list] [-keep]
//
// The list's format is described at the top of mutants.txt.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// A mutant is one deliberate bug: edits to files, and the tests that must
// fail with them in place.
type mutant struct {
	name  string
	line  int // where it starts in the list
	edits []edit
	tests []testRun
}

// An edit replaces the one run of lines in file whose trimmed text equals
// find with replace, indented like the first line found.
type edit struct {
	file    string
	find    []string
	replace []string
}

// A testRun is `go test -run run pkg`, in the module at dir ("" for the
// root; "watermill:." in the list names package . of ./watermill's module).
type testRun struct {
	dir string
	pkg string
	run string
}

func (t testRun) String() string {
	if t.dir != "" {
		return "(in " + t.dir + ") " + t.pkg + " -run " + t.run
	}
	return t.pkg + " -run " + t.run
}

func main() {
	listPath := flag.String("list", "scripts/mutants/mutants.txt", "the list of mutations")
	only := flag.String("run", "", "apply only the mutations whose name matches this regular expression")
	show := flag.Bool("show", false, "print the mutations and their tests, and run nothing")
	keep := flag.Bool("keep", false, "keep the scratch copy and print where it is")
	timeout := flag.Duration("timeout", 10*time.Minute, "how long one test run may take")
	flag.Parse()
	if err := run(*listPath, *only, *show, *keep, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(listPath, only string, show, keep bool, timeout time.Duration) error {
	f, err := os.Open(listPath)
	if err != nil {
		return err
	}
	muts, err := parse(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", listPath, err)
	}
	if only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			return fmt.Errorf("-run: %w", err)
		}
		kept := muts[:0]
		for _, m := range muts {
			if re.MatchString(m.name) {
				kept = append(kept, m)
			}
		}
		muts = kept
	}
	if len(muts) == 0 {
		return errors.New("no mutation to apply")
	}
	if show {
		for _, m := range muts {
			fmt.Printf("%s\n", m.name)
			for _, t := range m.tests {
				fmt.Printf("    go test %s\n", t)
			}
		}
		return nil
	}

	scratch, err := os.MkdirTemp("", "redstream-mutants-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("scratch copy:", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	if err := copyTree(scratch); err != nil {
		return err
	}

	// The tests must pass on the unmutated tree, or a failure says nothing.
	seen := map[testRun]bool{}
	for _, m := range muts {
		for _, t := range m.tests {
			if seen[t] {
				continue
			}
			seen[t] = true
			if out, err := goTest(scratch, t, timeout); err != nil {
				os.Stderr.Write(tail(out, 40))
				return fmt.Errorf("the unmutated tree fails go test %s: fix the test first", t)
			}
		}
	}
	fmt.Printf("baseline: %d test runs pass on the unmutated tree\n", len(seen))

	bad := 0
	for _, m := range muts {
		verdict, detail := try(scratch, m, timeout)
		fmt.Printf("%-9s %s%s\n", verdict, m.name, detail)
		if verdict != "caught" {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d mutations not caught", bad, len(muts))
	}
	fmt.Printf("all %d mutations caught\n", len(muts))
	return nil
}

// try applies m in dir, runs its tests, and restores the files.
func try(dir string, m mutant, timeout time.Duration) (verdict, detail string) {
	began := time.Now()
	originals := map[string][]byte{}
	defer func() {
		for file, b := range originals {
			os.WriteFile(filepath.Join(dir, file), b, 0o644)
		}
	}()
	for _, e := range m.edits {
		path := filepath.Join(dir, e.file)
		b, err := os.ReadFile(path)
		if err != nil {
			return "stale", ": " + err.Error()
		}
		if _, ok := originals[e.file]; !ok {
			originals[e.file] = b
		}
		out, err := apply(b, e)
		if err != nil {
			return "stale", fmt.Sprintf(": %s: %v (list line %d)", e.file, err, m.line)
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return "stale", ": " + err.Error()
		}
	}
	for _, t := range m.tests {
		// A mutation that does not build would fail any test: say so.
		if out, err := goCmd(filepath.Join(dir, t.dir), timeout, "test", "-count=1", "-run", "^$", t.pkg); err != nil {
			os.Stderr.Write(tail(out, 20))
			return "broken", ": it does not compile"
		}
		if _, err := goTest(dir, t, timeout); err != nil {
			return "caught", fmt.Sprintf("  (go test %s, %s)", t, time.Since(began).Round(time.Second))
		}
	}
	return "survived", fmt.Sprintf("  (%s)", time.Since(began).Round(time.Second))
}

func goTest(dir string, t testRun, timeout time.Duration) ([]byte, error) {
	return goCmd(filepath.Join(dir, t.dir), timeout, "test", "-count=1", "-failfast", "-timeout", timeout.String(), "-run", t.run, t.pkg)
}

func goCmd(dir string, timeout time.Duration, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// apply replaces the one run of lines in src matching e.find.
func apply(src []byte, e edit) ([]byte, error) {
	lines := strings.Split(string(src), "\n")
	at := -1
	for i := 0; i+len(e.find) <= len(lines); i++ {
		match := true
		for j, want := range e.find {
			if strings.TrimSpace(lines[i+j]) != want {
				match = false
				break
			}
		}
		if match {
			if at >= 0 {
				return nil, fmt.Errorf("%q is found more than once", e.find[0])
			}
			at = i
		}
	}
	if at < 0 {
		return nil, fmt.Errorf("%q is not found: the code changed, so update the mutation", e.find[0])
	}
	first := lines[at]
	indent := first[:len(first)-len(strings.TrimLeft(first, " \t"))]
	repl := make([]string, len(e.replace))
	for i, r := range e.replace {
		repl[i] = indent + r
	}
	out := append(append(append([]string{}, lines[:at]...), repl...), lines[at+len(e.find):]...)
	return []byte(strings.Join(out, "\n")), nil
}

// parse reads the list: see the top of mutants.txt.
func parse(r io.Reader) ([]mutant, error) {
	var muts []mutant
	var cur *mutant
	var ed *edit
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "":
		case strings.HasPrefix(line, "== "):
			muts = append(muts, mutant{name: strings.TrimSpace(line[3:]), line: n})
			cur, ed = &muts[len(muts)-1], nil
		case cur == nil:
			return nil, fmt.Errorf("line %d: a mutation starts with \"== name\"", n)
		case strings.HasPrefix(line, "file: "):
			cur.edits = append(cur.edits, edit{file: strings.TrimSpace(line[6:])})
			ed = &cur.edits[len(cur.edits)-1]
		case strings.HasPrefix(line, "test: "):
			f := strings.Fields(line[6:])
			if len(f) != 2 {
				return nil, fmt.Errorf("line %d: want \"test: PACKAGE REGEXP\"", n)
			}
			t := testRun{pkg: f[0], run: f[1]}
			if d, p, ok := strings.Cut(f[0], ":"); ok {
				t.dir, t.pkg = d, p
			}
			cur.tests = append(cur.tests, t)
		case strings.HasPrefix(line, "-"):
			if ed == nil || len(ed.replace) > 0 {
				return nil, fmt.Errorf("line %d: \"-\" lines come after \"file:\" and before \"+\" lines", n)
			}
			ed.find = append(ed.find, strings.TrimSpace(line[1:]))
		case strings.HasPrefix(line, "+"):
			if ed == nil || len(ed.find) == 0 {
				return nil, fmt.Errorf("line %d: \"+\" lines follow \"-\" lines", n)
			}
			ed.replace = append(ed.replace, line[1:])
		default:
			return nil, fmt.Errorf("line %d: cannot read %q", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, m := range muts {
		if len(m.edits) == 0 || len(m.tests) == 0 {
			return nil, fmt.Errorf("line %d: %q needs a file edit and a test", m.line, m.name)
		}
		for _, e := range m.edits {
			if len(e.find) == 0 {
				return nil, fmt.Errorf("line %d: %q: an edit of %s has no \"-\" lines", m.line, m.name, e.file)
			}
		}
	}
	return muts, nil
}

// copyTree copies the files git knows of (tracked, and untracked but not
// ignored, as they are in the working tree) into dir.
func copyTree(dir string) error {
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return fmt.Errorf("git ls-files (run this from the repository root): %w", err)
	}
	for _, name := range bytes.Split(out, []byte{0}) {
		if len(name) == 0 {
			continue
		}
		src := string(name)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, src)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func tail(b []byte, lines int) []byte {
	parts := bytes.Split(b, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return append(bytes.Join(parts, []byte("\n")), '\n')
}
