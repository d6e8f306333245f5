package redstreamui

import (
	"context"
	"net/http"

	"github.com/redstream-go/redstream"
)

// entries returns a page of the stream's entries, newest first, from
// from (an ID, "" for the newest), and the ?from= of the next page.
func (u *ui) entries(ctx context.Context, stream, from string) ([]*redstream.Message, string, error) {
	return nil, "", nil
}

func (u *ui) apiTail(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not available"})
}
