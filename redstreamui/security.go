package redstreamui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
)

// contentSecurityPolicy allows only the handler's own script and style
// files: no inline script, no third party, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func setSecurityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Cookie names.
const (
	sessionCookie = "redstream_session" // proves the token was given once
	csrfCookie    = "redstream_csrf"    // a random nonce the CSRF token is bound to
	flashCookie   = "redstream_flash"   // the result of the last action
)

// mac returns HMAC-SHA256 of parts under the handler's secret, in hex.
func (u *ui) mac(parts ...string) string {
	m := hmac.New(sha256.New, u.secret)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares two secrets in constant time, also hiding their
// lengths (both are hashed first).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authenticate checks the token or basic auth when one is configured.
// It answers the request itself (401, or a redirect that drops ?token=
// from the address) and returns false when the handler must stop.
func (u *ui) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if u.cfg.token == "" && !u.cfg.hasBasicAuth {
		return true
	}
	if u.cfg.token != "" {
		if c, err := r.Cookie(sessionCookie); err == nil && equal(c.Value, u.sessionValue()) {
			return true
		}
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " && equal(h[7:], u.cfg.token) {
			return true
		}
		if q := r.URL.Query(); q.Has("token") && r.Method == http.MethodGet {
			if equal(q.Get("token"), u.cfg.token) {
				http.SetCookie(w, &http.Cookie{
					Name: sessionCookie, Value: u.sessionValue(), Path: base(r) + "/",
					HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
				})
				q.Del("token")
				to := *r.URL
				to.RawQuery = q.Encode()
				to.Path = base(r) + r.URL.Path
				http.Redirect(w, r, (&url.URL{Path: to.Path, RawQuery: to.RawQuery}).String(), http.StatusSeeOther)
				return false
			}
		}
	}
	if u.cfg.hasBasicAuth {
		user, pass, ok := r.BasicAuth()
		// Both compared, always, so the time taken says nothing.
		if ok && equal(user, u.cfg.basicUser) && equal(pass, u.cfg.basicPass) {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="redstream", charset="UTF-8"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="redstream"`)
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "unauthorized: this dashboard needs its token or password", http.StatusUnauthorized)
	return false
}

// sessionValue is the session cookie's value: derived from the token, so
// a changed token ends every session, and useless without the secret.
func (u *ui) sessionValue() string { return u.mac("session", u.cfg.token) }

// csrfToken returns the CSRF token of the browser's nonce cookie, setting
// a new nonce cookie when there is none. Forms carry it in the field
// "csrf"; scripts in the header X-CSRF-Token.
func (u *ui) csrfToken(w http.ResponseWriter, r *http.Request) string {
	nonce := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		nonce = c.Value
	} else {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		nonce = hex.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{
			Name: csrfCookie, Value: nonce, Path: base(r) + "/",
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
		})
	}
	return u.mac("csrf", nonce)
}

// validCSRF reports whether a POST carries the CSRF token bound to its
// nonce cookie. A forged request from another site has neither the
// cookie (SameSite=Strict) nor the token (which needs the secret).
func (u *ui) validCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			return false
		}
		got = r.PostForm.Get("csrf")
	}
	return got != "" && equal(got, u.mac("csrf", c.Value))
}
