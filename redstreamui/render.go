package redstreamui

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/redstream-go/redstream"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageNames are the templates/<name>.html files; each is parsed with
// layout.html into its own template set.
var pageNames = []string{"overview", "stream", "pending", "dead", "deadentry", "topics", "topic", "server", "error"}

var pages = parsePages()

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"dur":   roundDur,
		"bytes": bytesText,
		"since": func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			return roundDur(time.Since(t)) + " ago"
		},
		"durp": func(d *time.Duration) string {
			if d == nil {
				return "-"
			}
			return roundDur(*d)
		},
		"lag": func(l *int64) string {
			if l == nil {
				return "unknown"
			}
			return strconv.FormatInt(*l, 10)
		},
		"idle": func(d time.Duration) string {
			if d < 0 {
				return "-"
			}
			return roundDur(d)
		},
		"text":   safeText,
		"lines":  func(c chartView) []string { return c.Lines },
		"chartW": func() int { return chartW },
		"chartH": func() int { return chartH },
	}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		out[name] = t
	}
	return out
}

// pageData is what every page template gets.
type pageData struct {
	Title    string
	Nav      string // which menu entry is current
	Base     string // where the handler is mounted
	Here     string // this page's path and query, below Base
	CSRF     string
	ReadOnly bool
	Flash    string
	FlashErr bool
	Version  string
	Data     any
}

// page wraps a page handler: it renders the template the handler names
// with its data, or an error page.
func (u *ui) page(f func(r *http.Request) (name, title string, data any, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var name, title string
		var data any
		err := u.reachable(r)
		if err == nil {
			name, title, data, err = f(r)
		}
		pd := &pageData{Title: title, Nav: name, Base: base(r), Here: r.URL.RequestURI(), ReadOnly: u.cfg.readOnly, Data: data}
		status := http.StatusOK
		if err != nil {
			status = errorStatus(err)
			name, pd.Title, pd.Data = "error", "Error", err.Error()
		}
		if !u.cfg.readOnly {
			pd.CSRF = u.csrfToken(w, r)
		}
		pd.Flash, pd.FlashErr = takeFlash(w, r)
		u.render(w, status, name, pd)
	}
}

func (u *ui) render(w http.ResponseWriter, status int, name string, pd *pageData) {
	var buf bytes.Buffer
	if err := pages[name].Execute(&buf, pd); err != nil {
		u.cfg.logger.Error("redstreamui: render", "page", name, "error", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (u *ui) notFound(w http.ResponseWriter, r *http.Request) {
	u.page(func(*http.Request) (string, string, any, error) {
		return "", "", nil, errNotFound
	})(w, r)
}

// badRequest marks an error in what the request asked for (400).
type badRequest struct{ msg string }

func (e *badRequest) Error() string { return e.msg }

func errorStatus(err error) int {
	var br *badRequest
	switch {
	case errors.As(err, &br), errors.Is(err, redstream.ErrInvalidID), errors.Is(err, redstream.ErrInvalidOption):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound), errors.Is(err, redstream.ErrNoStream), errors.Is(err, redstream.ErrNoGroup),
		errors.Is(err, redstream.ErrNoTopic), errors.Is(err, redstream.ErrNoEntry), errors.Is(err, redstream.ErrNotStream):
		return http.StatusNotFound
	}
	return http.StatusBadGateway
}

// writeJSON answers an API request; API answers are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

// setFlash keeps the result of an action for the next page.
func setFlash(w http.ResponseWriter, r *http.Request, msg string, isErr bool) {
	kind := "ok:"
	if isErr {
		kind = "err:"
	}
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(kind + msg)), Path: base(r) + "/",
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 60,
	})
}

// takeFlash returns the result of the last action, once.
func takeFlash(w http.ResponseWriter, r *http.Request) (string, bool) {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return "", false
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: base(r) + "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return "", false
	}
	s := string(b)
	if m, ok := strings.CutPrefix(s, "err:"); ok {
		return m, true
	}
	m, _ := strings.CutPrefix(s, "ok:")
	return m, false
}

// safeText makes bytes that are not valid UTF-8 visible as a quoted Go
// string; valid text is shown as it is (and escaped by the template).
func safeText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strconv.Quote(s)
}

// roundDur shows a duration to a precision that suits its size.
func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func bytesText(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(n)/float64(div), 'f', 1, 64) + " " + string("KMGTP"[exp]) + "iB"
}
