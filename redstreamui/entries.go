package redstreamui

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/redstream-go/redstream"
)

// entries returns a page of the stream's entries, newest first, from
// from (an ID, "" for the newest), and the ?from= of the next (older)
// page, "" after the oldest.
func (u *ui) entries(ctx context.Context, stream, from string) ([]*redstream.Message, string, error) {
	end := from
	if end == "" {
		end = "+"
	}
	ms, err := u.in.Range(ctx, stream, "-", end, pageSize+1, true)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ms) > pageSize {
		next = ms[pageSize].ID
		ms = ms[:pageSize]
	}
	return ms, next, nil
}

// tailAnswer is the JSON of /api/tail.
type tailAnswer struct {
	Entries []*redstream.Message `json:"entries"`
	Error   string               `json:"error,omitempty"`
}

// apiTail returns the entries of ?stream= after ?after= (an ID, or "$"
// for none yet), at most 100, without waiting; the page's live view
// polls it.
func (u *ui) apiTail(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	stream, after := q.Get("stream"), q.Get("after")
	if after == "" {
		after = "$"
	}
	if stream == "" || (after != "$" && checkID(after) != nil) || strings.HasPrefix(after, "(") {
		writeJSON(w, http.StatusBadRequest, tailAnswer{Error: "need ?stream= and ?after= an entry ID or $"})
		return
	}
	if err := u.reachable(r); err != nil {
		writeJSON(w, http.StatusBadGateway, tailAnswer{Error: err.Error()})
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	ms, err := u.in.Tail(ctx, stream, after, 100, 0)
	if err != nil {
		status := errorStatus(err)
		if errors.Is(err, redstream.ErrInvalidID) {
			status = http.StatusBadRequest
		}
		writeJSON(w, status, tailAnswer{Error: err.Error()})
		return
	}
	if ms == nil {
		ms = []*redstream.Message{}
	}
	writeJSON(w, http.StatusOK, tailAnswer{Entries: ms})
}
