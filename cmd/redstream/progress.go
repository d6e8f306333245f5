package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows how far a long task is. On a terminal it redraws one
// line in place ("\r") several times a second; elsewhere (a pipe, a file,
// a test's buffer) it writes a plain line every few seconds, so logs stay
// readable. Add and Set are safe for concurrent use.
type progress struct {
	w     io.Writer
	tty   bool
	noun  string // what is counted: "tickets", "entries"
	total int64
	start time.Time

	n        atomic.Int64
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
	lastLine int // width of the last line drawn, to blank what is left of it
}

const (
	progressTTYEvery   = 100 * time.Millisecond
	progressPlainEvery = 2 * time.Second
	progressBarWidth   = 30
)

// startProgress starts showing progress towards total on w, counting the
// time from start. Finish stops it.
func startProgress(w io.Writer, tty bool, noun string, total int64, start time.Time) *progress {
	p := &progress{
		w: w, tty: tty, noun: noun, total: total, start: start,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	every := progressPlainEvery
	if tty {
		every = progressTTYEvery
	}
	go p.loop(every)
	return p
}

// Add counts d more done.
func (p *progress) Add(d int64) { p.n.Add(d) }

// Set sets how many are done.
func (p *progress) Set(n int64) { p.n.Store(n) }

func (p *progress) loop(every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.draw(now)
		}
	}
}

// Finish stops the updates. On a terminal it draws the final state and
// ends the line, so what is printed next starts on a line of its own. It
// is safe to call more than once.
func (p *progress) Finish() {
	p.once.Do(func() {
		close(p.stop)
		<-p.done
		if p.tty {
			p.draw(time.Now())
			fmt.Fprintln(p.w)
		}
	})
}

func (p *progress) draw(now time.Time) {
	n := min(p.n.Load(), p.total)
	elapsed := now.Sub(p.start)
	if !p.tty {
		fmt.Fprintf(p.w, "%d/%d %s (%d%%) after %s\n", n, p.total, p.noun, percent(n, p.total), roundDuration(elapsed))
		return
	}
	line := "\r" + bar(n, p.total, progressBarWidth) + " " + p.counts(n) + "  " + roundDuration(elapsed).String()
	if pad := p.lastLine - len(line); pad > 0 {
		line += strings.Repeat(" ", pad) // blank a longer earlier line
	}
	p.lastLine = len(line)
	io.WriteString(p.w, line)
}

// counts formats "n/total noun pct%" with n padded to total's width, so
// the line does not jitter as the numbers grow.
func (p *progress) counts(n int64) string {
	width := len(strconv.FormatInt(p.total, 10))
	return fmt.Sprintf("%*d/%d %s %3d%%", width, n, p.total, p.noun, percent(n, p.total))
}

// bar draws "[=====>    ]" with width cells between the brackets.
func bar(n, total int64, width int) string {
	filled := width
	if total > 0 {
		filled = int(int64(width) * n / total)
	}
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case filled >= width:
		b.WriteString(strings.Repeat("=", width))
	default:
		b.WriteString(strings.Repeat("=", filled))
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", width-filled-1))
	}
	b.WriteByte(']')
	return b.String()
}

func percent(n, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return n * 100 / total
}

// roundDuration keeps a duration readable: microseconds below a
// millisecond, milliseconds below a second, hundredths of a second below a
// minute, whole seconds above.
func roundDuration(d time.Duration) time.Duration {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond)
	case d < time.Second:
		return d.Round(time.Millisecond)
	case d < time.Minute:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Second)
	}
}
