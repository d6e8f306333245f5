package redstreamui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redstream-go/redstream"
)

// idleStop is how long sampling goes on after the last request.
const idleStop = 10 * time.Minute

// rateSpan is how many sample intervals a shown rate averages over.
const rateSpan = 5

// sampler reads every stream through the Inspector at a fixed interval
// while the dashboard is used, and keeps the last minutes of each
// stream's and group's numbers in memory for the rate charts. A sample
// that fails is logged and shown; the next one tries again.
type sampler struct {
	in  *redstream.Inspector
	cfg config

	sampleMu sync.Mutex // one sample at a time

	mu        sync.Mutex
	latest    *overviewData
	streams   map[string]*streamHist
	lastTouch time.Time
	cancel    context.CancelFunc // of the running loop, nil when none
	done      chan struct{}      // closed when the running loop ends
}

// point is one sample of a stream. total counts the entries ever added
// where the server tells (Redis 7+), else it is the length, whose growth
// misses what trimming removed meanwhile.
type point struct {
	at    time.Time
	total int64
	dead  int64
}

// gpoint is one sample of a group; lag is -1 when unknown.
type gpoint struct {
	at      time.Time
	total   int64
	lag     int64
	pending int64
}

type streamHist struct {
	points []point
	groups map[string][]gpoint
}

func newSampler(in *redstream.Inspector, cfg config) *sampler {
	return &sampler{in: in, cfg: cfg, streams: map[string]*streamHist{}}
}

// touch records a request and starts the sampling loop if it is not
// running.
func (s *sampler) touch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastTouch = time.Now()
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go s.loop(ctx, s.done)
}

// stop ends the sampling loop and waits for it.
func (s *sampler) stop() {
	s.mu.Lock()
	cancel, done := s.cancel, s.done
	s.cancel, s.done = nil, nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (s *sampler) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(s.cfg.sampleEvery)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		idle := time.Since(s.lastTouch) > idleStop
		if idle && s.done == done {
			s.cancel, s.done = nil, nil
		}
		s.mu.Unlock()
		if idle {
			return
		}
	}
}

// current returns the latest overview, sampling now when there is none
// or it is older than two intervals.
func (s *sampler) current(ctx context.Context) *overviewData {
	s.mu.Lock()
	o := s.latest
	s.mu.Unlock()
	if o != nil && time.Since(o.ReadAt) < 2*s.cfg.sampleEvery {
		return o
	}
	return s.sample(ctx)
}

// sample reads every stream once, records the numbers and builds the
// overview from the history.
func (s *sampler) sample(ctx context.Context) *overviewData {
	s.sampleMu.Lock()
	defer s.sampleMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	now := time.Now()
	o := &overviewData{ReadAt: now, Window: windowText(s.cfg.history)}
	infos, more, err := s.read(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			return o
		}
		s.cfg.logger.Warn("redstreamui: sample failed", "error", err)
		o.Error = err.Error()
	}
	o.More = more

	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, info := range infos {
		seen[info.Stream] = true
		h := s.streams[info.Stream]
		if h == nil {
			h = &streamHist{groups: map[string][]gpoint{}}
			s.streams[info.Stream] = h
		}
		total := info.Length
		if info.EntriesAdded != nil {
			total = *info.EntriesAdded
		}
		h.points = append(trimPoints(h.points, now.Add(-s.cfg.history)), point{now, total, info.DeadLetters})
		gseen := map[string]bool{}
		for _, g := range info.Groups {
			gseen[g.Name] = true
			lag := int64(-1)
			if g.Lag != nil {
				lag = *g.Lag
			}
			h.groups[g.Name] = append(trimGPoints(h.groups[g.Name], now.Add(-s.cfg.history)), gpoint{now, total, lag, g.Pending})
		}
		for g := range h.groups {
			if !gseen[g] {
				delete(h.groups, g)
			}
		}
		o.Streams = append(o.Streams, s.view(info, h, now))
	}
	if err == nil {
		for name := range s.streams {
			if !seen[name] {
				delete(s.streams, name)
			}
		}
	}
	if err == nil || s.latest == nil {
		s.latest = o
	} else {
		// Keep showing the last good numbers, with the error above them.
		kept := *s.latest
		kept.Error = o.Error
		o = &kept
	}
	return o
}

// read lists the streams (not their dead-letter streams) on every node
// and reads each, at most MaxStreams of them.
func (s *sampler) read(ctx context.Context) ([]*redstream.StreamInfo, int, error) {
	names, err := s.in.Streams(ctx, "*")
	if err != nil {
		return nil, 0, err
	}
	names = withoutDeadLetterStreams(names, s.cfg.deadSuffix)
	more := 0
	if len(names) > s.cfg.maxStreams {
		more = len(names) - s.cfg.maxStreams
		names = names[:s.cfg.maxStreams]
	}
	infos := make([]*redstream.StreamInfo, 0, len(names))
	for _, n := range names {
		info, err := s.in.Stream(ctx, n)
		if errors.Is(err, redstream.ErrNoStream) || errors.Is(err, redstream.ErrNotStream) {
			continue // deleted or replaced since the scan
		}
		if err != nil {
			return infos, more, err
		}
		infos = append(infos, info)
	}
	return infos, more, nil
}

// withoutDeadLetterStreams drops "<s><suffix>" when s is listed too: its
// numbers show on s's row.
func withoutDeadLetterStreams(names []string, suffix string) []string {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	out := names[:0:0]
	for _, n := range names {
		if b, ok := strings.CutSuffix(n, suffix); ok && set[b] {
			continue
		}
		out = append(out, n)
	}
	return out
}

func trimPoints(p []point, from time.Time) []point {
	i := 0
	for i < len(p) && p[i].at.Before(from) {
		i++
	}
	return append(p[:0], p[i:]...)
}

func trimGPoints(p []gpoint, from time.Time) []gpoint {
	i := 0
	for i < len(p) && p[i].at.Before(from) {
		i++
	}
	return append(p[:0], p[i:]...)
}

// view builds a stream's overview row from its latest state and history.
func (s *sampler) view(info *redstream.StreamInfo, h *streamHist, now time.Time) streamView {
	v := streamView{
		Name:   info.Stream,
		Length: info.Length,
		Dead:   info.DeadLetters,
		Memory: "-",
	}
	if info.MemoryBytes != nil {
		v.Memory = bytesText(*info.MemoryBytes)
	}
	in := make([]float64, 0, len(h.points))
	at := make([]time.Time, 0, len(h.points))
	for i := 1; i < len(h.points); i++ {
		a, b := h.points[i-1], h.points[i]
		in = append(in, perSecond(max(b.total-a.total, 0), b.at.Sub(a.at)))
		at = append(at, b.at)
	}
	v.InRate = rateText(recent(in))
	v.Chart = s.chart(now, at, in)
	for _, g := range info.Groups {
		gv := groupView{
			Name:      g.Name,
			Lag:       "unknown",
			Pending:   g.Pending,
			Consumers: len(g.Consumers),
			Oldest:    "-",
		}
		if g.Lag != nil {
			gv.Lag = strconv.FormatInt(*g.Lag, 10)
		}
		if g.OldestPendingAge != nil {
			gv.Oldest = roundDur(*g.OldestPendingAge)
		}
		pts := h.groups[g.Name]
		var del, ack []float64
		var gat []time.Time
		for i := 1; i < len(pts); i++ {
			a, b := pts[i-1], pts[i]
			if a.lag < 0 || b.lag < 0 {
				continue
			}
			// Delivered: what was added minus what the lag grew by.
			// Acknowledged: what was delivered minus what pending grew by.
			d := max(b.total-a.total-(b.lag-a.lag), 0)
			k := max(d-(b.pending-a.pending), 0)
			dt := b.at.Sub(a.at)
			del = append(del, perSecond(d, dt))
			ack = append(ack, perSecond(k, dt))
			gat = append(gat, b.at)
		}
		gv.Delivered, gv.Acked = rateText(recent(del)), rateText(recent(ack))
		gv.Chart = s.chart(now, gat, del, ack)
		v.Groups = append(v.Groups, gv)
	}
	return v
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// recent averages the last rateSpan rates; nil when there are none.
func recent(r []float64) *float64 {
	if len(r) == 0 {
		return nil
	}
	r = r[max(len(r)-rateSpan, 0):]
	sum := 0.0
	for _, x := range r {
		sum += x
	}
	avg := sum / float64(len(r))
	return &avg
}

func rateText(r *float64) string {
	if r == nil {
		return "-"
	}
	switch {
	case *r == 0:
		return "0/s"
	case *r < 10:
		return strconv.FormatFloat(*r, 'f', 1, 64) + "/s"
	}
	return strconv.FormatFloat(*r, 'f', 0, 64) + "/s"
}

// Chart geometry: the SVG's viewBox is chartW x chartH.
const (
	chartW = 240
	chartH = 40
)

// chart draws series (same times, one scale) over the history window as
// SVG polyline points.
func (s *sampler) chart(now time.Time, at []time.Time, series ...[]float64) chartView {
	top := 0.0
	for _, ser := range series {
		for _, x := range ser {
			top = max(top, x)
		}
	}
	c := chartView{Max: rateText(&top)}
	from := now.Add(-s.cfg.history)
	for _, ser := range series {
		var b strings.Builder
		for i, x := range ser {
			px := float64(chartW) * at[i].Sub(from).Seconds() / s.cfg.history.Seconds()
			py := float64(chartH - 1)
			if top > 0 {
				py = float64(chartH-1) - (float64(chartH-2) * x / top)
			}
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", px, py)
		}
		c.Lines = append(c.Lines, b.String())
	}
	return c
}

// windowText names the charts' span: "10 minutes", "1 hour".
func windowText(d time.Duration) string {
	switch {
	case d == time.Hour:
		return "hour"
	case d == time.Minute:
		return "minute"
	case d%time.Minute == 0:
		return strconv.Itoa(int(d/time.Minute)) + " minutes"
	}
	return roundDur(d)
}
