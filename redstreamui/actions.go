package redstreamui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/redstream-go/redstream"
)

// maxFormBytes bounds an action's form.
const maxFormBytes = 1 << 20

// maxIDs bounds how many dead letters one replay or purge names.
const maxIDs = 1000

// actions are the POST /action/<name> handlers. Each returns the text
// shown on the next page, or an error shown instead.
var actions = map[string]func(u *ui, ctx context.Context, f *form) (string, error){
	"replay":          (*ui).replay,
	"replay-all":      (*ui).replayAll,
	"purge":           (*ui).purge,
	"purge-all":       (*ui).purgeAll,
	"group-create":    (*ui).groupCreate,
	"group-setid":     (*ui).groupSetID,
	"group-delete":    (*ui).groupDelete,
	"consumer-delete": (*ui).consumerDelete,
}

// action performs one state change (the security layer has checked the
// CSRF token and that the dashboard is not read-only) and redirects back
// to the page it came from, which shows the result in #flash.
func (u *ui) action(w http.ResponseWriter, r *http.Request) {
	do, ok := actions[r.PathValue("name")]
	if !ok {
		http.Error(w, "no such action", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := pageCtx(r)
	defer cancel()
	msg, err := do(u, ctx, &form{r: r})
	if err != nil {
		u.cfg.logger.Warn("redstreamui: action failed", "action", r.PathValue("name"), "error", err)
		setFlash(w, r, err.Error(), true)
	} else {
		setFlash(w, r, msg, false)
	}
	// The last "back" wins: a form may name another page than its own.
	back := ""
	if b := r.PostForm["back"]; len(b) > 0 {
		back = b[len(b)-1]
	}
	http.Redirect(w, r, base(r)+backPath(back), http.StatusSeeOther)
}

// backPath accepts only a path of this handler ("/dead?stream=S"), never
// another site ("//evil", "/\evil", "https://...").
func backPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsRune(p, '\\') {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		// Browsers drop tabs and newlines from a URL ("/\t/evil" is
		// "//evil", another site), and other controls break the header.
		if p[i] < 0x20 || p[i] == 0x7f {
			return "/"
		}
	}
	return p
}

// form reads an action's fields.
type form struct{ r *http.Request }

func (f *form) get(name string) string { return f.r.PostForm.Get(name) }

func (f *form) need(name string) (string, error) {
	v := f.r.PostForm.Get(name)
	if v == "" {
		return "", &badRequest{msg: "the form lacks " + name}
	}
	return v, nil
}

// needAll returns the values of names, in order, or a bad request naming
// the first missing.
func (f *form) needAll(names ...string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		v, err := f.need(n)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (f *form) flag(name string) bool {
	v := f.r.PostForm.Get(name)
	return v == "1" || v == "on" || v == "true"
}

func (u *ui) formQueue(f *form) (*redstream.DeadLetterQueue, string, error) {
	stream, err := f.need("stream")
	if err != nil {
		return nil, "", err
	}
	q, err := u.deadQueue(stream)
	return q, stream, err
}

// ids returns the dead letters an action names, each a valid ID.
func (f *form) ids() ([]string, error) {
	ids := f.r.PostForm["id"]
	if len(ids) == 0 {
		return nil, &badRequest{msg: "no dead letter selected"}
	}
	if len(ids) > maxIDs {
		return nil, &badRequest{msg: fmt.Sprintf("at most %d dead letters at once", maxIDs)}
	}
	for _, id := range ids {
		if _, err := redstream.ParseID(id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (u *ui) replay(ctx context.Context, f *form) (string, error) {
	q, stream, err := u.formQueue(f)
	if err != nil {
		return "", err
	}
	ids, err := f.ids()
	if err != nil {
		return "", err
	}
	n, err := q.Replay(ctx, ids...)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("replayed %d of %d dead letters to %s", n, len(ids), stream), nil
}

func (u *ui) replayAll(ctx context.Context, f *form) (string, error) {
	q, stream, err := u.formQueue(f)
	if err != nil {
		return "", err
	}
	n, err := q.ReplayRange(ctx, "-", "+", nil)
	if err != nil {
		return "", fmt.Errorf("replayed %d dead letters, then: %w", n, err)
	}
	return fmt.Sprintf("replayed all %d dead letters to %s", n, stream), nil
}

func (u *ui) purge(ctx context.Context, f *form) (string, error) {
	q, _, err := u.formQueue(f)
	if err != nil {
		return "", err
	}
	ids, err := f.ids()
	if err != nil {
		return "", err
	}
	n, err := q.Purge(ctx, ids...)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("purged %d of %d dead letters", n, len(ids)), nil
}

func (u *ui) purgeAll(ctx context.Context, f *form) (string, error) {
	q, _, err := u.formQueue(f)
	if err != nil {
		return "", err
	}
	n, err := q.PurgeAll(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("purged all %d dead letters of %s", n, q.Key()), nil
}

func (u *ui) groupDelete(ctx context.Context, f *form) (string, error) {
	v, err := f.needAll("stream", "group")
	if err != nil {
		return "", err
	}
	stream, group := v[0], v[1]
	pending, err := u.in.DeleteGroup(ctx, stream, group, f.flag("force"))
	if errors.Is(err, redstream.ErrHasPending) {
		return "", fmt.Errorf("group %s still has %d pending entries, which nobody would process after its deletion; tick \"force\" to delete it anyway", group, pending)
	}
	if err != nil {
		return "", err
	}
	if pending > 0 {
		return fmt.Sprintf("deleted group %s of %s with its %d pending entries", group, stream, pending), nil
	}
	return fmt.Sprintf("deleted group %s of %s", group, stream), nil
}

func (u *ui) consumerDelete(ctx context.Context, f *form) (string, error) {
	v, err := f.needAll("stream", "group", "consumer")
	if err != nil {
		return "", err
	}
	stream, group, consumer := v[0], v[1], v[2]
	pending, err := u.in.DeleteConsumer(ctx, stream, group, consumer, f.flag("force"))
	if errors.Is(err, redstream.ErrHasPending) {
		return "", fmt.Errorf("consumer %s still owns %d pending entries, which could no longer be claimed after its deletion; tick \"force\" to delete it anyway", consumer, pending)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("deleted consumer %s of group %s", consumer, group), nil
}

func (u *ui) groupCreate(ctx context.Context, f *form) (string, error) {
	v, err := f.needAll("stream", "group")
	if err != nil {
		return "", err
	}
	stream, group := v[0], v[1]
	start := f.get("start")
	if start == "" {
		start = "0" // the whole stream, as the CLI and the library start
	}
	if err := u.in.CreateGroup(ctx, stream, group, start, false); err != nil {
		return "", err
	}
	return fmt.Sprintf("created group %s of %s at %s", group, stream, start), nil
}

// groupSetID moves a group to an entry ID ("id": "0", "$" or an ID) or to
// a time ("ago": how long before now, such as "1h" to replay the last
// hour). Skipping past the stream's end needs "force", as in the CLI.
func (u *ui) groupSetID(ctx context.Context, f *form) (string, error) {
	v, err := f.needAll("stream", "group")
	if err != nil {
		return "", err
	}
	stream, group := v[0], v[1]
	id, ago := strings.TrimSpace(f.get("id")), f.get("ago")
	switch {
	case id != "" && ago != "":
		return "", &badRequest{msg: "give either a time or an ID, not both"}
	case ago != "":
		d, err := time.ParseDuration(ago)
		if err != nil || d < 0 {
			return "", &badRequest{msg: fmt.Sprintf("%q is not a duration such as 1h", ago)}
		}
		at := time.Now().Add(-d)
		if err := u.in.SetGroupTime(ctx, stream, group, at, f.flag("force")); err != nil {
			return "", beyondEnd(err)
		}
		return fmt.Sprintf("group %s of %s now reads the entries added after %s (the last %s)", group, stream, at.Format("15:04:05"), d), nil
	case id != "":
		if err := u.in.SetGroupID(ctx, stream, group, id, f.flag("force")); err != nil {
			return "", beyondEnd(err)
		}
		return fmt.Sprintf("group %s of %s now reads the entries after %s", group, stream, id), nil
	}
	return "", &badRequest{msg: "choose how far back to go, or an ID"}
}

// beyondEnd adds to a refusal to skip past the stream's end how to
// insist.
func beyondEnd(err error) error {
	if errors.Is(err, redstream.ErrBeyondEnd) {
		return fmt.Errorf("%w; the group would skip entries not yet written: tick \"force\" to do it anyway", err)
	}
	return err
}
