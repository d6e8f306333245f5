package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// volatile matches the parts of the CLI's tables that change from run to
// run, with what replaces them.
var volatile = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}\b`), "<time>"},
	{regexp.MustCompile(`\b\d+-\d+\b`), "<id>"},
	{regexp.MustCompile(`\b\d+(\.\d+)? (B|KiB|MiB|GiB|TiB)\b`), "<mem>"},
	{regexp.MustCompile(`\b(\d+(\.\d+)?(ns|µs|us|ms|s|m|h))+\b`), "<dur>"},
}

// cells are the columns tabwriter made: two spaces or more.
var cells = regexp.MustCompile(`  +`)

// normalize replaces the volatile parts of out with placeholders and
// aligns its tables again, since the placeholders' widths differ from
// the values'. A line's indentation is kept; a table ends where the
// number of columns changes, as the CLI's tables do.
func normalize(out string) string {
	for _, v := range volatile {
		out = v.re.ReplaceAllString(out, v.with)
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	prevCells := 0
	for _, line := range strings.SplitAfter(out, "\n") {
		rest := strings.TrimLeft(line, " ")
		indent := line[:len(line)-len(rest)]
		row := indent + cells.ReplaceAllString(rest, "\t")
		if n := strings.Count(row, "\t"); n != prevCells {
			tw.Flush()
			prevCells = n
		}
		tw.Write([]byte(row))
	}
	tw.Flush()
	return b.String()
}

// golden compares the normalized out with testdata/name.golden, or
// rewrites the file with -update.
func golden(t *testing.T, name, out string) {
	t.Helper()
	got := normalize(out)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -run %s -update rewrites it)\n--- got:\n%s--- want:\n%s--- raw output:\n%s", path, t.Name(), got, want, out)
	}
}

func TestNormalize(t *testing.T) {
	in := "a  1795706046305-0  8.0 KiB  1m2.5s\nbb  3-4  512 B  300µs\n"
	want := "a   <id>  <mem>  <dur>\nbb  <id>  <mem>  <dur>\n"
	if got := normalize(in); got != want {
		t.Errorf("normalize:\n%q\nwant\n%q", got, want)
	}
}
