package redstreamui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
)

// TestReadOnlyRefusesAPostWithAValidCSRFToken shows that read-only mode
// refuses changes on its own, not only because it hands out no CSRF
// token: the token here is valid for the handler (the same handler,
// made writable, accepts it).
func TestReadOnlyRefusesAPostWithAValidCSRFToken(t *testing.T) {
	srv := redstreamtest.StartRedis(t)
	c := srv.Client(t)
	dead := redstream.DeadLetterKey("s")
	if err := srv.Do(t, "XADD", dead, "*", "a", "b").Error(); err != nil {
		t.Fatal(err)
	}
	h, err := Handler(c, ReadOnly())
	if err != nil {
		t.Fatal(err)
	}
	u := h.(*ui)
	defer u.Close()
	nonce := strings.Repeat("ab", 16)
	post := func() int {
		form := url.Values{"csrf": {u.mac("csrf", nonce)}, "stream": {"s"}}
		req := httptest.NewRequest(http.MethodPost, "http://localhost/action/purge-all", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: csrfCookie, Value: nonce})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if code := post(); code != http.StatusForbidden {
		t.Errorf("read-only POST with a valid CSRF token: %d, want 403", code)
	}
	if n, _ := srv.Do(t, "XLEN", dead).AsInt64(); n != 1 {
		t.Fatalf("read-only dashboard purged the dead letters")
	}
	u.cfg.readOnly = false
	if code := post(); code != http.StatusSeeOther {
		t.Errorf("the same POST on a writable dashboard: %d, want 303 (the token is valid)", code)
	}
	if n, _ := srv.Do(t, "XLEN", dead).AsInt64(); n != 0 {
		t.Errorf("the writable dashboard did not purge: %d left", n)
	}
}
