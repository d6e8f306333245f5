// Command leafcount reads `go test -json` output on stdin and counts the
// outcomes of leaf tests: tests with no subtests of their own. A parent
// test passes when its subtests pass or skip, so only leaves say what was
// really run. It lists skipped and failed leaves, prints
// "leaves: N passed, N failed, N skipped", and exits 1 if any failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	outcome := map[string]string{}
	skipWhy := map[string]string{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.Test == "" {
			continue
		}
		key := e.Package + " " + e.Test
		switch e.Action {
		case "pass", "fail", "skip":
			outcome[key] = e.Action
		case "output":
			if line := strings.TrimSpace(e.Output); strings.Contains(line, ".go:") {
				skipWhy[key] = line // the last file:line message, a Skip's reason
			}
		}
	}
	names := make([]string, 0, len(outcome))
	for k := range outcome {
		names = append(names, k)
	}
	sort.Strings(names)
	parents := map[string]bool{}
	for _, k := range names {
		for i := len(k) - 1; i > 0; i-- {
			if k[i] == '/' {
				parents[k[:i]] = true
			}
		}
	}
	counts := map[string]int{}
	for _, k := range names {
		if parents[k] {
			continue // has subtests: not a leaf
		}
		counts[outcome[k]]++
		if outcome[k] != "pass" {
			why := ""
			if outcome[k] == "skip" {
				why = "  (" + strings.TrimSpace(skipWhy[k]) + ")"
			}
			fmt.Printf("%s %s%s\n", strings.ToUpper(outcome[k]), k, why)
		}
	}
	fmt.Printf("leaves: %d passed, %d failed, %d skipped\n", counts["pass"], counts["fail"], counts["skip"])
	if counts["fail"] > 0 {
		os.Exit(1)
	}
}
