package redstreamui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redstream-go/redstream"
)

// pageTimeout bounds the Redis work of one page.
const pageTimeout = 30 * time.Second

// pageSize is how many entries, pending entries or dead letters a page
// shows.
const pageSize = 50

// overviewData is the overview page's data and the JSON of /api/overview.
type overviewData struct {
	ReadAt  time.Time    `json:"read_at"`
	Window  string       `json:"window"`
	Streams []streamView `json:"streams"`
	More    int          `json:"more"`            // streams not shown (MaxStreams)
	Error   string       `json:"error,omitempty"` // the last sample's failure
}

type streamView struct {
	Name   string      `json:"stream"`
	Length int64       `json:"length"`
	Dead   int64       `json:"dead"`
	Memory string      `json:"memory"`
	InRate string      `json:"in_rate"`
	Chart  chartView   `json:"chart"`
	Groups []groupView `json:"groups"`
}

type groupView struct {
	Name      string    `json:"group"`
	Lag       string    `json:"lag"`
	Pending   int64     `json:"pending"`
	Consumers int       `json:"consumers"`
	Oldest    string    `json:"oldest_pending_age"`
	Delivered string    `json:"delivered_rate"`
	Acked     string    `json:"acked_rate"`
	Chart     chartView `json:"chart"`
}

// chartView is an SVG chart: one polyline's points per series, and the
// value at the top of the scale.
type chartView struct {
	Lines []string `json:"lines"`
	Max   string   `json:"max"`
}

func pageCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), pageTimeout)
}

// pingTimeout bounds the look at whether Redis answers at all, taken
// before a page's reads: the client retries reads until their deadline,
// so with Redis down every page would otherwise take pageTimeout to say so.
const pingTimeout = 2 * time.Second

// reachable returns an error when Redis does not answer a PING promptly.
func (u *ui) reachable(r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), pingTimeout)
	defer cancel()
	if err := u.client.Do(ctx, u.client.B().Ping().Build()).Error(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%w: no answer from Redis in %v", redstream.ErrUnreachable, pingTimeout)
		}
		return fmt.Errorf("%w: %v", redstream.ErrUnreachable, err)
	}
	return nil
}

func (u *ui) overview(r *http.Request) (string, string, any, error) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	return "overview", "Overview", u.sampler.current(ctx), nil
}

func (u *ui) apiOverview(w http.ResponseWriter, r *http.Request) {
	if err := u.reachable(r); err != nil {
		writeJSON(w, http.StatusBadGateway, &overviewData{ReadAt: time.Now(), Error: err.Error()})
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	writeJSON(w, http.StatusOK, u.sampler.current(ctx))
}

// required returns the query parameter name, or a bad request.
func required(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", &badRequest{msg: "the address lacks ?" + name + "="}
	}
	return v, nil
}

// checkID accepts "" or a stream entry ID.
func checkID(id string) error {
	if id == "" {
		return nil
	}
	_, err := redstream.ParseID(strings.TrimPrefix(id, "("))
	return err
}

type streamPageData struct {
	Info    *redstream.StreamInfo
	Entries []*redstream.Message
	Next    string // the ?from= of the next (older) page, "" when none
	From    string
	TailErr string // why the entry browser is not shown
}

func (u *ui) streamPage(r *http.Request) (string, string, any, error) {
	name, err := required(r, "name")
	if err != nil {
		return "", "", nil, err
	}
	from := r.URL.Query().Get("from")
	if err := checkID(from); err != nil {
		return "", "", nil, err
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	info, err := u.in.Stream(ctx, name)
	if err != nil {
		return "", "", nil, err
	}
	d := &streamPageData{Info: info, From: from}
	d.Entries, d.Next, err = u.entries(ctx, name, from)
	if err != nil {
		return "", "", nil, err
	}
	return "stream", name, d, nil
}

type pendingPageData struct {
	Stream, Group, Consumer string
	Entries                 []redstream.PendingEntry
	Next                    string
}

func (u *ui) pendingPage(r *http.Request) (string, string, any, error) {
	stream, err := required(r, "stream")
	if err != nil {
		return "", "", nil, err
	}
	group, err := required(r, "group")
	if err != nil {
		return "", "", nil, err
	}
	q := r.URL.Query()
	from := q.Get("from")
	if err := checkID(from); err != nil {
		return "", "", nil, err
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	d := &pendingPageData{Stream: stream, Group: group, Consumer: q.Get("consumer")}
	d.Entries, d.Next, err = u.in.Pending(ctx, stream, group, from, pageSize, d.Consumer)
	if err != nil {
		return "", "", nil, err
	}
	return "pending", "Pending in " + group, d, nil
}

type deadPageData struct {
	Stream, Key string
	Len         int64
	Letters     []redstream.DeadLetter
	Next        string
	From        string
}

func (u *ui) deadQueue(stream string) (*redstream.DeadLetterQueue, error) {
	return redstream.NewDeadLetterQueue(u.client, stream, u.in.DeadLetterKey(stream))
}

func (u *ui) deadPage(r *http.Request) (string, string, any, error) {
	stream, err := required(r, "stream")
	if err != nil {
		return "", "", nil, err
	}
	from := r.URL.Query().Get("from")
	if err := checkID(from); err != nil {
		return "", "", nil, err
	}
	q, err := u.deadQueue(stream)
	if err != nil {
		return "", "", nil, err
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	d := &deadPageData{Stream: stream, Key: q.Key(), From: from}
	if d.Len, err = q.Len(ctx); err != nil {
		return "", "", nil, err
	}
	start := from
	if start == "" {
		start = "-"
	}
	l, err := q.List(ctx, start, "+", pageSize+1)
	if err != nil {
		return "", "", nil, err
	}
	if len(l) > pageSize {
		d.Next = l[pageSize].ID
		l = l[:pageSize]
	}
	d.Letters = l
	return "dead", "Dead letters of " + stream, d, nil
}

type deadEntryData struct {
	Stream string
	Letter *redstream.DeadLetter
}

func (u *ui) deadEntryPage(r *http.Request) (string, string, any, error) {
	stream, err := required(r, "stream")
	if err != nil {
		return "", "", nil, err
	}
	id, err := required(r, "id")
	if err != nil {
		return "", "", nil, err
	}
	q, err := u.deadQueue(stream)
	if err != nil {
		return "", "", nil, err
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	d, err := q.Get(ctx, id)
	if err != nil {
		return "", "", nil, err
	}
	return "deadentry", "Dead letter " + id, &deadEntryData{Stream: stream, Letter: d}, nil
}

type topicsData struct {
	Topics []topicRow
	More   bool
}

type topicRow struct {
	Name       string
	Partitions int
	Groups     []string
	Length     int64
	Error      string
}

func (u *ui) topicsPage(r *http.Request) (string, string, any, error) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	names, err := u.in.Streams(ctx, "*")
	if err != nil {
		return "", "", nil, err
	}
	d := &topicsData{}
	for _, t := range topicNames(names) {
		if len(d.Topics) == 100 {
			d.More = true
			break
		}
		ti, err := u.in.Topic(ctx, t)
		if errors.Is(err, redstream.ErrNoTopic) {
			continue // a stream named like a partition, not a topic
		}
		row := topicRow{Name: t}
		if err != nil {
			row.Error = err.Error()
		} else {
			row.Partitions, row.Groups = len(ti.Partitions), ti.Groups
			for _, p := range ti.Partitions {
				row.Length += p.Length
			}
		}
		d.Topics = append(d.Topics, row)
	}
	return "topics", "Topics", d, nil
}

// topicNames finds the topics whose partition streams exist, from the
// partition key layout "<topic>:<i>{<topic>:<i>:<k>}" (see
// redstream.Topic).
func topicNames(streams []string) []string {
	set := map[string]bool{}
	for _, s := range streams {
		open := strings.LastIndexByte(s, '{')
		if open < 0 || !strings.HasSuffix(s, "}") {
			continue
		}
		head, tag := s[:open], s[open+1:len(s)-1]
		i := strings.LastIndexByte(head, ':')
		if i <= 0 {
			continue
		}
		topic, part := head[:i], head[i+1:]
		if _, err := strconv.Atoi(part); err != nil || !strings.HasPrefix(tag, head+":") {
			continue
		}
		set[topic] = true
	}
	out := make([]string, 0, len(set))
	for t := range set {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

func (u *ui) topicPage(r *http.Request) (string, string, any, error) {
	name, err := required(r, "name")
	if err != nil {
		return "", "", nil, err
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	ti, err := u.in.Topic(ctx, name)
	if err != nil {
		return "", "", nil, err
	}
	return "topic", "Topic " + name, ti, nil
}
