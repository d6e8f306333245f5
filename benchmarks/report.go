package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Report is everything one run measured.
type Report struct {
	RedisVersion   string            `json:"redis_version"`
	PrivateServer  bool              `json:"private_server"`
	GoVersion      string            `json:"go_version"`
	CPUs           int               `json:"cpus"`
	GOMAXPROCS     int               `json:"gomaxprocs"`
	Versions       map[string]string `json:"versions"`
	Payload        int               `json:"payload_bytes"`
	N              int               `json:"n"`
	LoopN          int               `json:"loop_n"`
	MemoryN        int               `json:"memory_n"`
	Quick          bool              `json:"quick"`
	ElapsedSeconds float64           `json:"elapsed_seconds"`
	LoadBefore     string            `json:"loadavg_before,omitempty"` // /proc/loadavg: other work on the machine skews every figure
	LoadAfter      string            `json:"loadavg_after,omitempty"`
	Figures        []Figure          `json:"figures"`
	Ratios         []Ratio           `json:"ratios"`
	Skipped        []string          `json:"skipped,omitempty"`
}

// Ratio is a redstream figure against a peer's, or against a fixed limit.
type Ratio struct {
	Name   string  `json:"name"`
	Of     string  `json:"of"`           // redstream figure key
	To     string  `json:"to,omitempty"` // peer figure key; empty for a fixed limit
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"` // "×" for a ratio, else the figure's unit
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"` // nil: informational
}

type check int

const (
	info     check = iota
	atLeast        // value ≥ limit
	atMost         // value ≤ limit
	lessThan       // value < limit
)

type ratioSpec struct {
	of, to string
	check  check
	limit  float64
}

var ratioSpecs = []ratioSpec{
	{"redstream.publish.1", "watermill.publish.1", info, 0},
	{"redstream.publish.1", "goredis.xadd.1", info, 0},
	{"redstream.publish.64", "watermill.publish.64", atLeast, 3},
	{"redstream.publish.64", "asynq.enqueue.64", info, 0},
	{"redstream.publish.64", "ceiling.xadd", info, 0},
	{"redstream.publish.64", "redstream.publish.batch", atLeast, 0.5},
	{"redstream.publish.batch", "watermill.publish.64", atLeast, 10},
	{"redstream.publish.batch", "ceiling.xadd", atLeast, 0.4},
	{"redstream.publish.batch.msgid", "redstream.publish.batch", info, 0},
	{"redstream.consume.1", "watermill.subscribe.1", atLeast, 30},
	{"redstream.consume.1", "asynq.process", atLeast, 20},
	{"redstream.consume.1", "goredis.seedconsumer.1", info, 0},
	{"redstream.consume.1", "ceiling.xadd", info, 0},
	{"redstream.consume.1", "ceiling.consume.raw", atLeast, 0.70},
	{"redstream.consumebatch.1", "ceiling.consume.raw", atLeast, 0.90},
	{"redstream.consume.4", "watermill.subscribe.1", info, 0},
	{"redstream.consume.4", "asynq.process", info, 0},
	{"redstream.consume.4", "goredis.seedconsumer.1", info, 0},
	{"redstream.consume.4", "ceiling.xadd", info, 0},
	{"redstream.consume.4", "ceiling.consume.raw", atLeast, 1.0},
	{"redstream.topic.consume.12", "redstream.consume.1", atLeast, 0.5},
	{"redstream.cli.consume", "watermill.subscribe.1", atLeast, 15},
	{"redstream.tracing.publish.batch.traced.unsampled", "redstream.tracing.publish.batch", info, 0},
	{"redstream.tracing.publish.batch.traced.sampled", "redstream.tracing.publish.batch", info, 0},
	{"redstream.tracing.consume.1.traced.unsampled", "redstream.tracing.consume.1", info, 0},
	{"redstream.tracing.consume.1.traced.sampled", "redstream.tracing.consume.1", info, 0},
	{"redstream.latency.2000.p50", "watermill.latency.2000.p50", info, 0},
	{"redstream.latency.2000.p90", "watermill.latency.2000.p90", info, 0},
	{"redstream.latency.2000.p99", "watermill.latency.2000.p99", atMost, 1},
	{"redstream.latency.2000.p99", "", lessThan, 2},
	{"redstream.delay.p99", "", lessThan, 250},
	{"redstream.memory.rss", "", lessThan, 100},
	{"redstream.seed.defaults", "", lessThan, 3},
	{"seed.article.computed", "redstream.seed.defaults", info, 0},
}

// ratios computes every ratio whose figures were measured. The memory
// limit applies to the peak RSS, or to the peak heap when RSS is unknown.
func ratios(figs []Figure) []Ratio {
	byKey := map[string]Figure{}
	for _, f := range figs {
		byKey[f.Key] = f
	}
	if _, ok := byKey["redstream.memory.rss"]; !ok {
		if h, ok := byKey["redstream.memory.heap"]; ok {
			byKey["redstream.memory.rss"] = h
		}
	}
	var out []Ratio
	for _, s := range ratioSpecs {
		of, ok := byKey[s.of]
		if !ok {
			continue
		}
		r := Ratio{Of: of.Key, Value: of.Value, Unit: of.Unit}
		if s.to == "" {
			r.Name = fmt.Sprintf("%s %s", of.System, of.Name)
		} else {
			to, ok := byKey[s.to]
			if !ok || to.Value == 0 {
				continue
			}
			r.To, r.Value, r.Unit = to.Key, of.Value/to.Value, "×"
			r.Name = fmt.Sprintf("%s %s / %s %s", of.System, of.Name, to.System, to.Name)
		}
		limit := fmt.Sprintf("%g", s.limit)
		if r.Unit != "×" {
			limit += " " + r.Unit
		} else {
			limit += "×"
		}
		var met bool
		switch s.check {
		case info:
			out = append(out, r)
			continue
		case atLeast:
			r.Target, met = "≥ "+limit, r.Value >= s.limit
		case atMost:
			r.Target, met = "≤ "+limit, r.Value <= s.limit
		case lessThan:
			r.Target, met = "< "+limit, r.Value < s.limit
		}
		r.Met = &met
		out = append(out, r)
	}
	return out
}

func (r *Report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func (r *Report) writeText(w io.Writer) {
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	fmt.Fprintf(w, "redis %s (%s), %s, %d CPUs, payload %d bytes, n=%d, %s run in %.0fs\n",
		r.RedisVersion, map[bool]string{true: "private server", false: "given server"}[r.PrivateServer],
		r.GoVersion, r.CPUs, r.Payload, r.N, mode, r.ElapsedSeconds)
	var vs []string
	for _, k := range []string{"rueidis", "watermill", "watermill-redisstream", "asynq", "go-redis"} {
		if v, ok := r.Versions[k]; ok {
			vs = append(vs, k+" "+v)
		}
	}
	fmt.Fprintf(w, "%s\n", strings.Join(vs, ", "))
	if r.LoadBefore != "" {
		fmt.Fprintf(w, "load average before %s, after %s (1, 5, 15 min)\n", r.LoadBefore, r.LoadAfter)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tfigure\tvalue\tunit\tnote")
	for _, f := range r.Figures {
		note := f.Note
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.System, f.Name, formatValue(f.Value, f.Unit), f.Unit, note)
	}
	tw.Flush()

	fmt.Fprintln(w, "\nratios (redstream figure / peer figure, same run, same server)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ratio\tvalue\ttarget\tresult")
	met, total := 0, 0
	for _, x := range r.Ratios {
		v := formatValue(x.Value, x.Unit)
		if x.Unit == "×" {
			v += "×"
		} else {
			v += " " + x.Unit
		}
		result := ""
		if x.Met != nil {
			total++
			if *x.Met {
				met++
				result = "met"
			} else {
				result = "NOT MET"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Name, v, x.Target, result)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ntargets met: %d of %d\n", met, total)
	for _, s := range r.Skipped {
		fmt.Fprintln(w, "note:", s)
	}
}

// formatValue prints rates as whole numbers with thousands separators and
// everything else with two or three significant decimals.
func formatValue(v float64, unit string) string {
	switch {
	case unit == "msgs/s" || math.Abs(v) >= 1000:
		return thousands(int64(math.Round(v)))
	case unit == "×" && v < 1:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
