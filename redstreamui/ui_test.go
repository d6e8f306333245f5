package redstreamui_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamui"
)

const script = `<script>alert("x")</script>`

// seeded is what seed wrote.
type seeded struct {
	ids  []string // entries of "orders"
	dead []string // dead letters of "orders"
}

// seed writes a stream with a group, pending entries, dead letters and a
// markup-holding entry, and a topic with a group.
func seed(d *dash) seeded {
	d.t.Helper()
	var s seeded
	s.ids = append(s.ids,
		d.xadd("orders", "kind", "created", "order", "1"),
		d.xadd("orders", "kind", "paid", "note", script),
		d.xadd("orders", "kind", "shipped", "order", "1"),
	)
	d.must("XGROUP", "CREATE", "orders", "workers", "0")
	d.must("XREADGROUP", "GROUP", "workers", "worker-1", "COUNT", "2", "STREAMS", "orders", ">")
	s.dead = append(s.dead,
		d.deadLetter("orders", "1-1", "kind", "lost", "payload", script),
		d.deadLetter("orders", "1-2", "kind", "failed"),
	)
	t, err := redstream.CreateTopic(ctxT(d.t), d.client, "clicks", 2)
	if err != nil {
		d.t.Fatal(err)
	}
	d.xadd(t.Stream(0), "k", "v")
	d.must("XGROUP", "CREATE", t.Stream(0), "counters", "0")
	return s
}

func TestPagesRenderRealData(t *testing.T) {
	d := newDash(t)
	s := seed(d)

	body := d.ok("/")
	wantContains(t, "overview", body,
		`<table id="streams">`,
		`<tr class="stream" data-stream="orders">`,
		`<td class="length num">3</td>`,
		`<a href="/dead?stream=orders">2</a>`,
		`<tr class="group" data-stream="orders" data-group="workers">`,
		`<td class="lag num">1</td>`,
		`<a href="/pending?stream=orders&amp;group=workers">2</a>`,
		`<td class="consumers num">1</td>`,
		`<svg class="chart"`,
	)
	wantNot(t, "overview", body, `data-stream="orders:dead"`) // shown on its stream's row

	o := d.overview()
	var found bool
	for _, st := range o.Streams {
		if st.Stream == "orders" {
			found = true
			if st.Length != 3 || st.Dead != 2 || len(st.Groups) != 1 || st.Groups[0].Pending != 2 || st.Groups[0].Lag != "1" || st.Groups[0].Consumers != 1 {
				t.Errorf("/api/overview orders = %+v", st)
			}
		}
	}
	if !found || o.Error != "" {
		t.Errorf("/api/overview lacks orders or has an error: %+v", o)
	}

	body = d.ok("/stream?name=orders")
	wantContains(t, "stream page", body,
		`<table id="entries" data-stream="orders" data-last="`+s.ids[2]+`">`,
		`<tr class="entry" data-id="`+s.ids[0]+`">`,
		`<tr class="entry" data-id="`+s.ids[2]+`">`,
		`<span class="name">kind</span><span class="value">shipped</span>`,
		`<tr class="consumer" data-consumer="worker-1">`,
		`data-group="workers"`,
	)
	if strings.Index(body, s.ids[2]+`">`) > strings.Index(body, s.ids[0]+`">`) {
		t.Errorf("entries are not newest first")
	}

	body = d.ok("/pending?stream=orders&group=workers")
	wantContains(t, "pending page", body,
		`<tr class="pending-entry" data-id="`+s.ids[0]+`">`,
		`<td class="owner">worker-1</td>`,
		`<td class="deliveries num">1</td>`,
	)

	body = d.ok("/dead?stream=orders")
	wantContains(t, "dead page", body,
		`<tr class="dead" data-id="`+s.dead[0]+`">`,
		`<tr class="dead" data-id="`+s.dead[1]+`">`,
		`<button class="action replay">`,
		`id="replay-all"`, `id="purge-all"`,
		`<dialog id="confirm">`, `id="confirm-yes"`, `id="confirm-no"`,
	)
	body = d.ok("/dead/entry?stream=orders&id=" + s.dead[0])
	wantContains(t, "dead entry page", body, "dead.consumer", "worker-1", `<td class="dead-id">1-1</td>`, `<td class="value">lost</td>`)

	body = d.ok("/topics")
	wantContains(t, "topics page", body, `<tr class="topic" data-topic="clicks">`, `<td class="num">2</td>`, "counters")
	body = d.ok("/topic?name=clicks")
	wantContains(t, "topic page", body, `data-partition="0" data-group="counters"`, `<td class="lag num">1</td>`, `data-partition="1"`)

	body = d.ok("/server")
	wantContains(t, "server page", body, `<dd id="version">redis 7`, `<dd id="mode">standalone</dd>`, `<table id="nodes">`, "append-only file")

	for path, status := range map[string]int{
		"/stream?name=nope":                 http.StatusNotFound,
		"/stream":                           http.StatusBadRequest,
		"/stream?name=orders&from=bad":      http.StatusBadRequest,
		"/dead/entry?stream=orders&id=9-9":  http.StatusNotFound,
		"/topic?name=nope":                  http.StatusNotFound,
		"/nowhere":                          http.StatusNotFound,
		"/pending?stream=orders&group=nope": http.StatusNotFound,
	} {
		if p := d.get(path); p.status != status {
			t.Errorf("GET %s: %d, want %d\n%s", path, p.status, status, p.body)
		}
	}
}

func TestEntryBrowserPagesAndTails(t *testing.T) {
	d := newDash(t)
	var ids []string
	for i := range 120 {
		ids = append(ids, d.xadd("long", "n", strings.Repeat("x", i%3)))
	}
	body := d.ok("/stream?name=long")
	if n := strings.Count(body, `<tr class="entry"`); n != 50 {
		t.Fatalf("first page has %d entries, want 50", n)
	}
	m := regexp.MustCompile(`id="older" href="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no link to older entries")
	}
	body = d.ok(strings.ReplaceAll(m[1], "&amp;", "&"))
	wantContains(t, "second page", body, `data-id="`+ids[69]+`"`, `data-id="`+ids[20]+`"`)
	wantNot(t, "second page", body, `data-id="`+ids[70]+`"`, `data-id="`+ids[19]+`"`)

	tail := func(after string) []string {
		p := d.get("/api/tail?stream=long&after=" + url.QueryEscape(after))
		if p.status != http.StatusOK {
			t.Fatalf("/api/tail: %d %s", p.status, p.body)
		}
		if cc := p.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("/api/tail Cache-Control %q", cc)
		}
		var a struct {
			Entries []struct{ ID string } `json:"entries"`
		}
		if err := json.Unmarshal([]byte(p.body), &a); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range a.Entries {
			out = append(out, e.ID)
		}
		return out
	}
	if got := tail(ids[119]); len(got) != 0 {
		t.Errorf("tail after the last entry = %v", got)
	}
	newID := d.xadd("long", "n", script)
	if got := tail(ids[119]); len(got) != 1 || got[0] != newID {
		t.Errorf("tail after a new entry = %v, want [%s]", got, newID)
	}
	if p := d.get("/api/tail?stream=long&after=nonsense"); p.status != http.StatusBadRequest {
		t.Errorf("tail with a bad ID: %d", p.status)
	}
}

// htmlTag finds markup from the test data that reached the page as
// markup: a live <script>, <b> or <img> element.
var htmlTag = regexp.MustCompile(`<script>alert|<b>bold|<img src=x`)

func TestEntryMarkupRendersAsText(t *testing.T) {
	d := newDash(t)
	s := seed(d)
	evil := `<img src=x onerror=alert(1)>`
	d.xadd(evil, redstream.HeaderPrefix+"h<b>bold</b>", script, "f<b>bold</b>", script)
	d.must("XGROUP", "CREATE", evil, "g<b>bold</b>", "0")
	deadID := d.deadLetter(evil, "1-1", redstream.HeaderPrefix+"h<b>bold</b>", script, "x", script)

	for _, path := range []string{
		"/",
		"/api/overview",
		"/stream?name=orders",
		"/stream?name=" + url.QueryEscape(evil),
		"/dead?stream=orders",
		"/dead?stream=" + url.QueryEscape(evil),
		"/dead/entry?stream=orders&id=" + s.dead[0],
		"/dead/entry?stream=" + url.QueryEscape(evil) + "&id=" + deadID,
		"/pending?stream=" + url.QueryEscape(evil) + "&group=" + url.QueryEscape("g<b>bold</b>"),
	} {
		body := d.ok(path)
		if loc := htmlTag.FindStringIndex(body); loc != nil {
			t.Errorf("%s renders data as markup at %q", path, body[max(loc[0]-80, 0):min(loc[1]+40, len(body))])
		}
	}
	body := d.ok("/stream?name=orders")
	wantContains(t, "stream page", body, `<span class="value">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</span>`)
	body = d.ok("/dead?stream=orders")
	wantContains(t, "dead page", body, `boom &lt;b&gt;bold&lt;/b&gt;`)
	// Headers are escaped as fields are.
	for _, path := range []string{"/stream?name=" + url.QueryEscape(evil), "/dead?stream=" + url.QueryEscape(evil)} {
		wantContains(t, path, d.ok(path), `<span class="header"><span class="name">h&lt;b&gt;bold&lt;/b&gt;</span><span class="value">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</span></span>`)
	}
	wantContains(t, "dead entry page", d.ok("/dead/entry?stream="+url.QueryEscape(evil)+"&id="+deadID),
		`<td class="name">h&lt;b&gt;bold&lt;/b&gt;</td><td class="value">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td>`)
}

// actionMarkup finds what read-only pages must not have.
var actionMarkup = regexp.MustCompile(`class="[^"]*\baction\b|method="post"|<dialog`)

func TestReadOnlyShowsNoActionAndRefusesPost(t *testing.T) {
	d := newDash(t, redstreamui.ReadOnly())
	s := seed(d)
	for _, path := range []string{
		"/", "/stream?name=orders", "/pending?stream=orders&group=workers",
		"/dead?stream=orders", "/dead/entry?stream=orders&id=" + s.dead[0],
		"/topics", "/topic?name=clicks", "/server", "/nowhere",
	} {
		body := d.get(path).body
		if loc := actionMarkup.FindStringIndex(body); loc != nil {
			t.Errorf("read-only %s offers an action: %q", path, body[max(loc[0]-60, 0):min(loc[1]+60, len(body))])
		}
	}
	// Even with a token from a writable dashboard of the same data.
	rw := newDashOn(t, d.redis)
	token := csrf(t, rw.ok("/dead?stream=orders"))
	for _, name := range []string{"replay", "replay-all", "purge", "purge-all", "group-delete", "group-create", "group-setid", "consumer-delete", "nonsense"} {
		p := d.post("/action/"+name, url.Values{"csrf": {token}, "stream": {"orders"}, "id": {s.dead[0]}, "group": {"workers"}, "force": {"1"}})
		if p.status != http.StatusForbidden {
			t.Errorf("read-only POST /action/%s: %d, want 403", name, p.status)
		}
	}
	if n := d.xlen("orders:dead"); n != 2 {
		t.Errorf("read-only dashboard changed the dead letters: %d left", n)
	}
	if n := d.xlen("orders"); n != 3 {
		t.Errorf("read-only dashboard changed the stream: %d entries", n)
	}
}

func TestPostWithoutCSRFIsForbidden(t *testing.T) {
	d := newDash(t)
	s := seed(d)
	body := d.ok("/dead?stream=orders") // sets the nonce cookie
	token := csrf(t, body)

	other := newDashOn(t, d.redis) // another handler's secret
	foreign := csrf(t, other.ok("/dead?stream=orders"))

	for name, form := range map[string]url.Values{
		"no token":           {"stream": {"orders"}, "id": {s.dead[0]}},
		"empty token":        {"csrf": {""}, "stream": {"orders"}, "id": {s.dead[0]}},
		"wrong token":        {"csrf": {strings.Repeat("0", len(token))}, "stream": {"orders"}, "id": {s.dead[0]}},
		"other secret token": {"csrf": {foreign}, "stream": {"orders"}, "id": {s.dead[0]}},
	} {
		if p := d.post("/action/replay", form); p.status != http.StatusForbidden {
			t.Errorf("%s: POST status %d, want 403", name, p.status)
		}
	}
	// The right token without its nonce cookie (another browser).
	stranger := &dash{t: t, redis: d.redis, srv: d.srv, http: browser(t)}
	if p := stranger.post("/action/replay", url.Values{"csrf": {token}, "stream": {"orders"}, "id": {s.dead[0]}}); p.status != http.StatusForbidden {
		t.Errorf("token without its cookie: %d, want 403", p.status)
	}
	if n := d.xlen("orders:dead"); n != 2 {
		t.Fatalf("a refused POST replayed dead letters: %d left", n)
	}

	p := d.post("/action/replay", url.Values{"csrf": {token}, "stream": {"orders"}, "id": {s.dead[0]}, "back": {"/dead?stream=orders"}})
	if p.status != http.StatusOK || p.url.Path != "/dead" {
		t.Fatalf("replay with the token: %d at %s\n%s", p.status, p.url, p.body)
	}
	wantContains(t, "page after replay", p.body, `<p id="flash" class="flash" role="status">replayed 1 of 1 dead letters to orders</p>`)
	wantNot(t, "page after replay", p.body, `data-id="`+s.dead[0]+`"`)
	es := d.entries("orders")
	last := es[len(es)-1]
	if len(es) != 4 || last.FieldValues[0].Value != "lost" || last.FieldValues[1].Value != script {
		t.Errorf("the dead letter is not back in the stream: %+v", es)
	}
	// The flash is shown once.
	wantNot(t, "next page", d.ok("/dead?stream=orders"), `id="flash"`)

	// The header works for scripts.
	p = d.do(http.MethodPost, "/action/purge", url.Values{"stream": {"orders"}, "id": {s.dead[1]}}, http.Header{"X-Csrf-Token": {token}})
	if p.status != http.StatusOK || d.xlen("orders:dead") != 0 {
		t.Errorf("purge with X-CSRF-Token: %d, %d dead letters left", p.status, d.xlen("orders:dead"))
	}
}

func TestActions(t *testing.T) {
	d := newDash(t)
	s := seed(d)
	token := csrf(t, d.ok("/stream?name=orders"))
	act := func(name string, form url.Values) string {
		t.Helper()
		form.Set("csrf", token)
		p := d.post("/action/"+name, form)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d\n%s", name, p.status, p.body)
		}
		m := regexp.MustCompile(`<p id="flash" class="flash( error)?" role="status">([^<]*)</p>`).FindStringSubmatch(p.body)
		if m == nil {
			t.Fatalf("%s: no #flash on the page after it", name)
		}
		if m[1] != "" {
			return "error: " + m[2]
		}
		return m[2]
	}

	got := act("group-delete", url.Values{"stream": {"orders"}, "group": {"workers"}})
	if !strings.Contains(got, "error:") || !strings.Contains(got, "2 pending") {
		t.Errorf("deleting a group with pending entries: %q, want a refusal", got)
	}
	got = act("consumer-delete", url.Values{"stream": {"orders"}, "group": {"workers"}, "consumer": {"worker-1"}})
	if !strings.Contains(got, "error:") {
		t.Errorf("deleting a consumer with pending entries: %q, want a refusal", got)
	}
	got = act("group-setid", url.Values{"stream": {"orders"}, "group": {"workers"}, "ago": {"1h"}})
	if strings.HasPrefix(got, "error:") {
		t.Errorf("group-setid 1h: %q", got)
	}
	if o := d.overview(); o.Streams[len(o.Streams)-1].Stream == "" {
		t.Fatal("no overview")
	}
	info, err := redstream.NewInspector(d.client).Stream(ctxT(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if g := info.Groups[0]; g.Lag == nil || *g.Lag != 3 {
		t.Errorf("after replaying the last hour the lag is %v, want 3", g.Lag)
	}
	got = act("group-setid", url.Values{"stream": {"orders"}, "group": {"workers"}, "id": {"99999999999999-0"}})
	if !strings.HasPrefix(got, "error:") {
		t.Errorf("group-setid beyond the end without force: %q, want a refusal", got)
	}
	if got = act("group-create", url.Values{"stream": {"orders"}, "group": {"audit"}, "start": {"0"}}); strings.HasPrefix(got, "error:") {
		t.Errorf("group-create: %q", got)
	}
	if got = act("group-create", url.Values{"stream": {"orders"}, "group": {"audit"}}); !strings.Contains(got, "exists") {
		t.Errorf("group-create twice: %q, want it exists", got)
	}
	if got = act("group-delete", url.Values{"stream": {"orders"}, "group": {"workers"}, "force": {"1"}}); strings.HasPrefix(got, "error:") {
		t.Errorf("forced group-delete: %q", got)
	}
	info, err = redstream.NewInspector(d.client).Stream(ctxT(t), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Groups) != 1 || info.Groups[0].Name != "audit" {
		t.Errorf("groups after the actions: %+v", info.Groups)
	}

	if got = act("replay-all", url.Values{"stream": {"orders"}}); got != "replayed all 2 dead letters to orders" {
		t.Errorf("replay-all: %q", got)
	}
	if d.xlen("orders:dead") != 0 || d.xlen("orders") != 5 {
		t.Errorf("after replay-all: %d dead, %d entries", d.xlen("orders:dead"), d.xlen("orders"))
	}
	d.deadLetter("orders", "1-3", "a", "b")
	d.deadLetter("orders", "1-4", "a", "b")
	if got = act("purge-all", url.Values{"stream": {"orders"}}); !strings.Contains(got, "purged all 2") || d.xlen("orders:dead") != 0 {
		t.Errorf("purge-all: %q, %d left", got, d.xlen("orders:dead"))
	}
	a, b := d.deadLetter("orders", "1-5", "a", "b"), d.deadLetter("orders", "1-6", "a", "b")
	if got = act("replay", url.Values{"stream": {"orders"}, "id": {a, b}}); got != "replayed 2 of 2 dead letters to orders" {
		t.Errorf("replay of selected: %q", got)
	}
	if got = act("replay", url.Values{"stream": {"orders"}, "id": {"bad"}}); !strings.HasPrefix(got, "error:") {
		t.Errorf("replay of a bad ID: %q", got)
	}
	_ = s
}

func TestActionRedirectsOnlyWithinTheDashboard(t *testing.T) {
	d := newDash(t)
	seed(d)
	token := csrf(t, d.ok("/dead?stream=orders"))
	d.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, back := range []string{"//evil.example/x", "https://evil.example/", `/\evil.example`, "dead"} {
		p := d.post("/action/purge-all", url.Values{"csrf": {token}, "stream": {"none"}, "back": {back}})
		if loc := p.header.Get("Location"); p.status != http.StatusSeeOther || loc != "/" {
			t.Errorf("back=%q: %d to %q, want 303 to /", back, p.status, loc)
		}
	}
}

func TestMountedUnderAPrefix(t *testing.T) {
	r := newDash(t)
	seed(r)
	h, err := redstreamui.Handler(r.client)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ops/redstream/", http.StripPrefix("/ops/redstream", h))
	d := &dash{t: t, redis: r.redis, http: browser(t)}
	d.srv = newServer(t, mux)
	body := d.ok("/ops/redstream/")
	wantContains(t, "mounted overview", body, `href="/ops/redstream/stream?name=orders"`, `src="/ops/redstream/static/app.js"`)
	d.ok("/ops/redstream/static/app.js")
	token := csrf(t, d.ok("/ops/redstream/dead?stream=orders"))
	p := d.post("/ops/redstream/action/purge-all", url.Values{"csrf": {token}, "stream": {"orders"}, "back": {"/dead?stream=orders"}})
	if p.status != http.StatusOK || p.url.Path != "/ops/redstream/dead" {
		t.Errorf("mounted action: %d at %s", p.status, p.url)
	}
	wantContains(t, "page after the action", p.body, `id="flash"`)
}

func TestOverviewNumbersAndChartsFollowTheStream(t *testing.T) {
	d := newDash(t, redstreamui.SampleEvery(500*time.Millisecond))
	d.xadd("live", "n", "0")
	d.must("XGROUP", "CREATE", "live", "g", "0")
	find := func() (int64, string, int) {
		for _, s := range d.overview().Streams {
			if s.Stream == "live" {
				return s.Length, s.InRate, len(s.Chart.Lines[0])
			}
		}
		return -1, "", 0
	}
	if n, _, _ := find(); n != 1 {
		t.Fatalf("length %d, want 1", n)
	}
	for i := range 20 {
		d.xadd("live", "n", string(rune('a'+i)))
	}
	waitFor(t, time.Minute, "the overview to show 21 entries", func() bool { n, _, _ := find(); return n == 21 })
	waitFor(t, time.Minute, "a rate above zero and a chart line", func() bool {
		_, rate, line := find()
		return rate != "0/s" && rate != "-" && line > 0
	})
}

func TestTokenAndBasicAuth(t *testing.T) {
	t.Run("token", func(t *testing.T) {
		d := newDash(t, redstreamui.Token("s3cret-token"))
		for _, path := range []string{"/", "/api/overview", "/static/app.js", "/server", "/nowhere"} {
			if p := d.get(path); p.status != http.StatusUnauthorized {
				t.Errorf("GET %s without the token: %d, want 401", path, p.status)
			}
		}
		if p := d.post("/action/replay", url.Values{}); p.status != http.StatusUnauthorized {
			t.Errorf("POST without the token: %d, want 401", p.status)
		}
		if p := d.do(http.MethodGet, "/", nil, http.Header{"Authorization": {"Bearer wrong"}}); p.status != http.StatusUnauthorized {
			t.Errorf("wrong bearer: %d", p.status)
		}
		if p := d.get("/?token=wrong"); p.status != http.StatusUnauthorized {
			t.Errorf("wrong ?token: %d", p.status)
		}
		if p := d.do(http.MethodGet, "/api/overview", nil, http.Header{"Authorization": {"Bearer s3cret-token"}}); p.status != http.StatusOK {
			t.Errorf("bearer: %d", p.status)
		}
		p := d.get("/server?token=s3cret-token")
		if p.status != http.StatusOK || p.url.RawQuery != "" || p.url.Path != "/server" {
			t.Errorf("?token: %d at %s, want 200 at /server without the token", p.status, p.url)
		}
		wantNot(t, "page after ?token", p.body, "s3cret-token")
		if p := d.get("/api/overview"); p.status != http.StatusOK {
			t.Errorf("with the session cookie: %d", p.status)
		}
	})
	t.Run("basic", func(t *testing.T) {
		d := newDash(t, redstreamui.BasicAuth("ops", "pa55"))
		p := d.get("/")
		if p.status != http.StatusUnauthorized || !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("without auth: %d %q", p.status, p.header.Get("WWW-Authenticate"))
		}
		for _, up := range [][2]string{{"ops", "wrong"}, {"other", "pa55"}, {"", ""}} {
			req, _ := http.NewRequest(http.MethodGet, d.srv.URL+"/", nil)
			req.SetBasicAuth(up[0], up[1])
			resp, err := d.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("basic auth %v: %d, want 401", up, resp.StatusCode)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, d.srv.URL+"/", nil)
		req.SetBasicAuth("ops", "pa55")
		resp, err := d.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("right basic auth: %d", resp.StatusCode)
		}
	})
}

func TestOptionsValidate(t *testing.T) {
	r := newDash(t)
	for name, opt := range map[string]redstreamui.Option{
		"empty token":        redstreamui.Token(" "),
		"empty password":     redstreamui.BasicAuth("ops", ""),
		"user with a colon":  redstreamui.BasicAuth("o:ps", "x"),
		"empty suffix":       redstreamui.DeadLetterSuffix(""),
		"sampling too often": redstreamui.SampleEvery(time.Millisecond),
		"history too short":  redstreamui.ChartHistory(30 * time.Second),
		"no streams":         redstreamui.MaxStreams(0),
		"charts of a day":    redstreamui.ChartHistory(24 * time.Hour),
	} {
		if _, err := redstreamui.Handler(r.client, opt); err == nil || !errorsIsInvalid(err) {
			t.Errorf("%s: err %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := redstreamui.Handler(nil); !errorsIsInvalid(err) {
		t.Errorf("nil client: %v", err)
	}
}

func TestSecurityHeaders(t *testing.T) {
	d := newDash(t)
	for _, path := range []string{"/", "/api/overview", "/static/app.js", "/nowhere"} {
		p := d.get(path)
		csp := p.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") ||
			!strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", path, p.header)
		}
	}
	if cc := d.get("/api/overview").header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("/api/overview Cache-Control %q, want no-store", cc)
	}
	// No inline script: every <script> loads a file of the handler.
	body := d.ok("/")
	if m := regexp.MustCompile(`<script(?: [^>]*)?>`).FindAllString(body, -1); len(m) != 1 || !strings.Contains(m[0], `src="/static/app.js"`) {
		t.Errorf("script tags %q, want only the embedded app.js", m)
	}
	if strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
		t.Errorf("inline style or handler in the page")
	}
	// The CSRF cookie is out of reach of scripts and other sites.
	for _, c := range d.get("/").header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "redstream_csrf=") && (!strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict")) {
			t.Errorf("CSRF cookie %q", c)
		}
	}
}

func TestRedisPasswordIsNeverShown(t *testing.T) {
	r := newDash(t)
	d := newDashOn(t, r.redis, redstreamui.RedisURL("redis://ops:hunter2@"+r.redis.Addr()+"/0"))
	body := d.ok("/server")
	wantContains(t, "server page", body, `<dd id="redis-url">redis://ops:xxxxx@`)
	wantNot(t, "server page", body, "hunter2")
}
