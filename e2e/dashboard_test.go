package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/redis/rueidis"

	"github.com/redstream-go/redstream"
	"github.com/redstream-go/redstream/redstreamtest"
	"github.com/redstream-go/redstream/redstreamui"
)

// updateDocs copies the overview and dead-letter screenshots to ../docs
// for the README: go test -run TestDashboard -docs .
var updateDocs = flag.Bool("docs", false, "copy the overview and dead-letter screenshots to ../docs")

// installChromium is what the test says when chromium is missing.
const installChromium = "chromium not found on PATH: install it with scripts/ensure-chromium.sh " +
	"(Debian/Ubuntu: apt-get update && apt-get install -y chromium)"

// markup is a field value that runs script wherever it is rendered as HTML:
// the script element when the server writes it raw, the onerror handler
// also when the page's own JavaScript inserts it with innerHTML.
const markup = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`

// stepTimeout bounds each step of the test; the steps wait on page state,
// never on time, so this is only how long a broken page takes to fail.
const stepTimeout = 60 * time.Second

// TestDashboard drives the dashboard in headless Chromium against a real
// redis-server with live consumers: live numbers on the overview, a dead
// letter replayed by clicking, no action in read-only mode, markup shown
// as text. Every page it visits is saved as a screenshot in artifacts/.
func TestDashboard(t *testing.T) {
	exe := chromiumPath(t)
	srv := redstreamtest.StartRedis(t)
	client := srv.Client(t)
	w := seed(t, srv, client)

	var opts []redstreamui.Option
	if *updateDocs {
		// Charts that fill their width in the time the docs run lasts.
		opts = append(opts, redstreamui.SampleEvery(time.Second), redstreamui.ChartHistory(time.Minute))
	}
	site := serve(t, client, opts...)
	roSite := serve(t, client, redstreamui.ReadOnly())

	b := newBrowser(t, exe)

	t.Run("overview updates live", func(t *testing.T) {
		stop := w.publishOrders(t)
		defer stop()
		b.open(t, site.URL+"/", "overview", `tr.stream[data-stream="orders"] td.length`)
		length := `tr.stream[data-stream="orders"] td.length`
		lag := `tr.group[data-stream="orders"][data-group="shipping"] td.lag`
		for _, sel := range []string{`table#streams`, `tr.stream[data-stream="orders"] td.dead`,
			`tr.group[data-stream="orders"][data-group="billing"] td.pending`,
			`tr.group[data-stream="orders"][data-group="billing"] td.consumers`, lag} {
			b.waitVisible(t, sel)
		}
		// The page is not reloaded: only its live refresh changes these.
		for round := 1; round <= 3; round++ {
			n := b.number(t, length)
			b.waitNumberAbove(t, length, n)
			l := b.number(t, lag)
			b.waitNumberAbove(t, lag, l)
		}
		if *updateDocs {
			w.showTraffic(t)
		}
		if n := b.count(t, `svg.chart`); n == 0 {
			t.Errorf("overview: no svg.chart")
		}
		b.shot(t, "overview")
	})

	t.Run("replay a dead letter by clicking", func(t *testing.T) {
		w.fixed.Store(true) // the bug that failed it is fixed: it is handled this time
		d := w.dead[0]
		row := fmt.Sprintf(`tr.dead[data-id=%q]`, d.ID)
		b.open(t, site.URL+"/dead?stream=orders", "dead-letters", row)
		for _, o := range w.dead {
			b.waitVisible(t, fmt.Sprintf(`tr.dead[data-id=%q]`, o.ID))
		}
		// Asked to confirm, the operator first says no: nothing happens.
		kept := fmt.Sprintf(`tr.dead[data-id=%q]`, w.dead[1].ID)
		b.click(t, kept+` button.replay`)
		b.waitVisible(t, `dialog#confirm[open] #confirm-no`)
		b.click(t, `dialog#confirm #confirm-no`)
		b.do(t, "the confirmation closes", chromedp.WaitNotVisible(chromedp.CSS(`dialog#confirm`)))

		b.click(t, row+` button.replay`)
		b.waitVisible(t, `dialog#confirm[open] #confirm-yes`)
		b.shot(t, "dead-letters-confirm")
		b.click(t, `dialog#confirm #confirm-yes`)
		b.waitVisible(t, `#flash`)
		b.waitGone(t, row)
		for _, o := range w.dead[1:] {
			b.waitVisible(t, fmt.Sprintf(`tr.dead[data-id=%q]`, o.ID))
		}
		b.shot(t, "dead-letters-replayed")

		// The library sees it back in the stream, and the consumer got it.
		ctx := ctxFor(t)
		q, err := redstream.NewDeadLetterQueue(client, "orders", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Get(ctx, d.ID); !errors.Is(err, redstream.ErrNoEntry) {
			t.Fatalf("dead letter %s still there after replay: %v", d.ID, err)
		}
		if _, err := q.Get(ctx, w.dead[1].ID); err != nil {
			t.Fatalf("dead letter %s, whose replay was canceled, is gone: %v", w.dead[1].ID, err)
		}
		order := valueOf(d.Fields, "order")
		back := w.findOrder(t, order)
		if back == "" {
			t.Fatalf("order %s is not back in the stream orders", order)
		}
		eventually(t, "the billing consumer handles the replayed order "+order, func() bool {
			_, ok := w.handled.Load(order)
			return ok
		})

		// And the stream page shows it.
		entry := fmt.Sprintf(`tr.entry[data-id=%q]`, back)
		b.open(t, site.URL+"/stream?name=orders", "stream", entry)
		if got := b.values(t, entry); !slices.Contains(got, order) {
			t.Errorf("stream page: entry %s shows values %q, want one %q", back, got, order)
		}
	})

	// Every page, in both modes: status 200, no markup run, and (checked at
	// the end) no uncaught script error.
	pages := []struct{ name, path, mustSee string }{
		{"overview", "/", `tr.stream[data-stream="orders"]`},
		{"stream", "/stream?name=orders", `table#entries tr.entry`},
		{"stream-notes", "/stream?name=notes", `table#entries tr.entry`},
		{"pending", "/pending?stream=tickets&group=support", ""},
		{"dead", "/dead?stream=orders", `tr.dead`},
		{"dead-entry", "/dead/entry?stream=orders&id=" + w.deadMarkup.ID, ""},
		{"topics", "/topics", ""},
		{"topic", "/topic?name=payments", ""},
		{"server", "/server", ""},
	}

	t.Run("every page loads", func(t *testing.T) {
		for _, p := range pages {
			b.open(t, site.URL+p.path, "page-"+p.name, p.mustSee)
			b.noMarkupRan(t, p.path)
		}
		// The selector the read-only check relies on finds the actions here.
		b.open(t, site.URL+"/dead?stream=orders", "", `tr.dead button.action.replay`)
		for _, sel := range []string{`button.action#replay-all`, `button.action#purge-all`} {
			b.waitVisible(t, sel)
		}
	})

	t.Run("read-only mode offers no action", func(t *testing.T) {
		for _, p := range pages {
			b.open(t, roSite.URL+p.path, "readonly-"+p.name, p.mustSee)
			b.noMarkupRan(t, "read-only "+p.path)
			if n := b.count(t, `.action, form[method="post" i]`); n != 0 {
				html := b.eval(t, `Array.from(document.querySelectorAll('.action, form[method="post" i]')).map(e => e.outerHTML.slice(0, 120)).join("\n")`)
				t.Errorf("read-only %s: %d action elements:\n%s", p.path, n, html)
			}
		}
	})

	t.Run("markup renders as text", func(t *testing.T) {
		entry := fmt.Sprintf(`tr.entry[data-id=%q]`, w.markupID)
		b.open(t, site.URL+"/stream?name=notes", "markup-stream", entry)
		if got := b.values(t, entry); !slices.Contains(got, markup) {
			t.Errorf("stream page: entry %s shows values %q, want one equal to %q", w.markupID, got, markup)
		}
		b.noMarkupRan(t, "stream page")

		// The live tail adds new entries with the page's own script.
		b.click(t, `#tail-toggle`)
		id := w.publish(t, "notes", "author", "mallory", "text", markup)
		live := fmt.Sprintf(`tr.entry[data-id=%q]`, id)
		b.waitVisible(t, live)
		b.shot(t, "markup-stream-live")
		if got := b.values(t, live); !slices.Contains(got, markup) {
			t.Errorf("live tail: entry %s shows values %q, want one equal to %q", id, got, markup)
		}
		b.noMarkupRan(t, "stream page, live tail")

		// The dead letter holding the same markup, on its own page.
		b.open(t, site.URL+"/dead/entry?stream=orders&id="+w.deadMarkup.ID, "markup-dead-entry", "")
		if got := b.eval(t, `document.body.textContent`); !strings.Contains(got, markup) {
			t.Errorf("dead letter page: text does not contain %q", markup)
		}
		b.noMarkupRan(t, "dead letter page")
	})

	if *updateDocs {
		if err := os.MkdirAll(filepath.Join("..", "docs"), 0o755); err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{"overview": "dashboard-overview", "dead-letters": "dashboard-dead-letters"} {
			data, err := os.ReadFile(filepath.Join("artifacts", from+".png"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("..", "docs", to+".png"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.checkNoExceptions(t)
}

// serve serves a dashboard on client on a loopback port until the test ends.
func serve(t *testing.T, client rueidis.Client, opts ...redstreamui.Option) *httptest.Server {
	t.Helper()
	h, err := redstreamui.Handler(client, opts...)
	if err != nil {
		t.Fatalf("redstreamui.Handler: %v", err)
	}
	site := httptest.NewServer(h) // on 127.0.0.1
	t.Cleanup(func() {
		site.Close()
		if c, ok := h.(io.Closer); ok {
			c.Close() // stops its sampling
		}
	})
	return site
}

// chromiumPath finds the browser or fails with the command that installs it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal(installChromium)
	return ""
}

// world is the data the dashboard shows: streams with running, stopped and
// absent consumers, dead letters, pending entries, a topic.
type world struct {
	client  rueidis.Client
	pub     *redstream.Publisher
	fixed   atomic.Bool // the billing handler stops failing "broken" orders
	handled sync.Map    // order -> true, as the billing consumer handled it
	orders  atomic.Int64

	dead       []redstream.DeadLetter // plain dead letters of orders, oldest first
	deadMarkup redstream.DeadLetter   // the dead letter whose note is markup
	markupID   string                 // the entry of notes whose note is markup
}

func seed(t *testing.T, srv *redstreamtest.Server, client rueidis.Client) *world {
	t.Helper()
	ctx := ctxFor(t)
	pub, err := redstream.NewPublisher(client)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{client: client, pub: pub}

	// orders: billing runs and dead-letters the broken orders; shipping
	// has no consumer, so its lag grows with every order.
	for _, g := range []string{"billing", "shipping"} {
		if err := srv.Do(t, "XGROUP", "CREATE", "orders", g, "0", "MKSTREAM").Error(); err != nil {
			t.Fatalf("xgroup create orders %s: %v", g, err)
		}
	}
	for i := 0; i < 40; i++ {
		sku := "sku-" + strconv.Itoa(100+i%7)
		note := "gift wrap"
		switch i {
		case 7, 19:
			sku = "broken"
		case 29:
			sku, note = "broken", markup
		}
		w.publish(t, "orders", "order", w.nextOrder(), "sku", sku, "qty", strconv.Itoa(1+i%3), "note", note)
	}
	handler := redstream.HandlerFunc(func(ctx context.Context, m *redstream.Message) error {
		if m.Value("sku") == "broken" && !w.fixed.Load() {
			return redstream.Permanent(errors.New("no price for sku broken"))
		}
		w.handled.Store(m.Value("order"), true)
		return nil
	})
	run(t, "billing consumer", func(ctx context.Context) (func(context.Context) error, error) {
		c, err := redstream.NewConsumer(client, "orders", "billing", handler, redstream.Name("billing-1"))
		if err != nil {
			return nil, err
		}
		go func() { _ = c.Run(ctx) }()
		return c.Shutdown, nil
	})
	q, err := redstream.NewDeadLetterQueue(client, "orders", "")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "three dead letters in orders:dead", func() bool {
		n, err := q.Len(ctx)
		return err == nil && n == 3
	})
	all, err := q.List(ctx, "-", "+", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range all {
		if valueOf(d.Fields, "note") == markup {
			w.deadMarkup = d
		} else {
			w.dead = append(w.dead, d)
		}
	}
	if len(w.dead) != 2 || w.deadMarkup.ID == "" {
		t.Fatalf("dead letters: %+v", all)
	}

	// tickets: agent-1 took three and holds them (pending), agent-2 is idle.
	if err := srv.Do(t, "XGROUP", "CREATE", "tickets", "support", "0", "MKSTREAM").Error(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		w.publish(t, "tickets", "whatHappened", "ticket received", "ticketID", strconv.Itoa(98498081+i), "ticketData", "printer on floor "+strconv.Itoa(2+i%4)+" is jammed")
	}
	for _, c := range []struct {
		name  string
		count string
	}{{"agent-1", "3"}, {"agent-2", "2"}} {
		if err := srv.Do(t, "XREADGROUP", "GROUP", "support", c.name, "COUNT", c.count, "STREAMS", "tickets", ">").Error(); err != nil {
			t.Fatal(err)
		}
	}

	// notes: one entry holding markup among plain ones.
	w.publish(t, "notes", "author", "ops", "text", "deploy at 14:00")
	w.markupID = w.publish(t, "notes", "author", "mallory", "text", markup)
	w.publish(t, "notes", "author", "ops", "text", "deploy done")

	// payments: a topic of 4 partitions with a consumer holding them.
	topic, err := redstream.CreateTopic(ctx, client, "payments", 4)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]redstream.KeyedEntry, 24)
	for i := range events {
		events[i] = redstream.KeyedEntry{Key: "account-" + strconv.Itoa(i%9), Fields: redstream.Fields("amount", strconv.Itoa(10+i), "currency", "EUR")}
	}
	if _, err := pub.PublishTopic(ctx, topic, events...); err != nil {
		t.Fatal(err)
	}
	run(t, "ledger topic consumer", func(ctx context.Context) (func(context.Context) error, error) {
		c, err := redstream.NewTopicConsumer(client, topic, "ledger",
			redstream.HandlerFunc(func(context.Context, *redstream.Message) error { return nil }),
			redstream.Name("ledger-1"))
		if err != nil {
			return nil, err
		}
		go func() { _ = c.Run(ctx) }()
		return c.Shutdown, nil
	})
	return w
}

func (w *world) nextOrder() string { return "A-" + strconv.FormatInt(10000+w.orders.Add(1), 10) }

func (w *world) publish(t *testing.T, stream string, namesAndValues ...string) string {
	t.Helper()
	id, err := w.pub.Publish(ctxFor(t), stream, redstream.Fields(namesAndValues...))
	if err != nil {
		t.Fatalf("publish to %s: %v", stream, err)
	}
	return id
}

// publishOrders publishes orders at a steady pace until the returned stop.
func (w *world) publishOrders(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(50 * time.Millisecond) // pacing only
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				done <- nil
				return
			case <-tick.C:
			}
			_, err := w.pub.Publish(ctx, "orders", redstream.Fields("order", w.nextOrder(), "sku", "sku-105", "qty", "1", "note", ""))
			if err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
	}()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("publishing orders: %v", err)
		}
	}
}

// showTraffic keeps orders coming at a changing rate for the minute the
// docs' overview charts show, so the README's screenshot has a history.
// It runs only with -docs: the test itself waits on state, not on time.
func (w *world) showTraffic(t *testing.T) {
	t.Helper()
	const step = 20 * time.Millisecond
	start := time.Now()
	tick := time.NewTicker(step)
	defer tick.Stop()
	owed := 0.0
	for i := 0; time.Since(start) < 70*time.Second; i++ {
		<-tick.C
		// From 5 to 45 orders a second and back, every 20 s.
		rate := 25 + 20*math.Sin(2*math.Pi*time.Since(start).Seconds()/20)
		for owed += rate * step.Seconds(); owed >= 1; owed-- {
			w.publish(t, "orders", "order", w.nextOrder(), "sku", "sku-10"+strconv.Itoa(i%7), "qty", "1", "note", "")
		}
	}
}

// findOrder returns the ID of the newest entry of orders whose order field
// is order, read through the library's Inspector.
func (w *world) findOrder(t *testing.T, order string) string {
	t.Helper()
	in := redstream.NewInspector(w.client)
	msgs, err := in.Range(ctxFor(t), "orders", "-", "+", 10000, true)
	if err != nil {
		t.Fatalf("range orders: %v", err)
	}
	for _, m := range msgs {
		if m.Value("order") == order {
			return m.ID
		}
	}
	return ""
}

// run starts a background worker and stops it when the test ends.
func run(t *testing.T, what string, start func(ctx context.Context) (shutdown func(context.Context) error, err error)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	shutdown, err := start(ctx)
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(func() {
		wait, stop := context.WithTimeout(context.Background(), 30*time.Second)
		defer stop()
		if err := shutdown(wait); err != nil {
			t.Errorf("%s: shutdown: %v", what, err)
		}
		cancel()
	})
}

// browser is one headless Chromium tab, with the uncaught script errors
// of the pages it showed.
type browser struct {
	ctx context.Context

	mu         sync.Mutex
	exceptions []string
}

func newBrowser(t *testing.T, exe string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		// Without these Chromium dials Google's services at start, and
		// a closed network refuses it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// The first action starts the browser, which lives as long as the
	// context of that action: b.ctx, not a step's.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			text := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil && e.ExceptionDetails.Exception.Description != "" {
				text = e.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, fmt.Sprintf("%s (%s:%d)", text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
			b.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("listen: %v", err)
	}
	return b
}

func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v (page %s)", what, err, b.location())
	}
}

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	u, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return u
}

// open loads url, requires status 200, waits until mustSee (if any) is
// visible, and saves a screenshot as artifacts/shot.png (if shot is set).
func (b *browser) open(t *testing.T, url, shot, mustSee string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	if resp.Status != 200 {
		t.Fatalf("open %s: status %d", url, resp.Status)
	}
	if mustSee != "" {
		b.waitVisible(t, mustSee)
	}
	if shot != "" {
		b.shot(t, shot)
	}
}

func (b *browser) waitVisible(t *testing.T, sel string) {
	t.Helper()
	b.do(t, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (b *browser) waitGone(t *testing.T, sel string) {
	t.Helper()
	b.do(t, "wait until gone: "+sel, chromedp.WaitNotPresent(chromedp.CSS(sel)))
}

func (b *browser) click(t *testing.T, sel string) {
	t.Helper()
	b.do(t, "click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

func (b *browser) eval(t *testing.T, js string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

func (b *browser) count(t *testing.T, sel string) int {
	t.Helper()
	n, err := strconv.Atoi(b.eval(t, fmt.Sprintf(`String(document.querySelectorAll(%s).length)`, strconv.Quote(sel))))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// values returns the text of the field values of an entry row.
func (b *browser) values(t *testing.T, row string) []string {
	t.Helper()
	js := fmt.Sprintf(`JSON.stringify(Array.from(document.querySelectorAll(%s)).map(e => e.textContent))`,
		strconv.Quote(row+" td.value, "+row+" .value"))
	var out []string
	if err := json.Unmarshal([]byte(b.eval(t, js)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var digits = regexp.MustCompile(`[0-9][0-9,  ]*`)

// number reads the first number in an element's text ("1,234" is 1234).
func (b *browser) number(t *testing.T, sel string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	text, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	n, ok := parseNumber(text)
	if !ok {
		t.Fatalf("%s: no number in %q", sel, text)
	}
	return n
}

func parseNumber(text string) (int64, bool) {
	m := digits.FindString(text)
	if m == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.NewReplacer(",", "", " ", "", " ", "").Replace(m), 10, 64)
	return n, err == nil
}

// waitNumberAbove waits until the page itself changes sel's number to
// more than n.
func (b *browser) waitNumberAbove(t *testing.T, sel string, n int64) {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const e = document.querySelector(%s);
		const m = e && e.textContent.match(/[0-9][0-9,\u00a0 ]*/);
		return !!m && Number(m[0].replace(/[,\u00a0 ]/g, "")) > %d;
	})()`, strconv.Quote(sel), n)
	b.do(t, fmt.Sprintf("wait for %s above %d", sel, n),
		chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(stepTimeout-time.Second)))
}

// noMarkupRan checks that no markup of an entry ran or became elements.
func (b *browser) noMarkupRan(t *testing.T, where string) {
	t.Helper()
	if got := b.eval(t, `typeof window.__pwned`); got != "undefined" {
		t.Errorf("%s: markup ran (window.__pwned is %s)", where, got)
	}
	made := b.eval(t, `String(document.querySelectorAll('img[src="x"]').length +
		Array.from(document.scripts).filter(s => s.textContent.includes("__pwned")).length)`)
	if made != "0" {
		t.Errorf("%s: %s elements made from an entry's markup (an img with src=x or a script setting __pwned)", where, made)
	}
}

func (b *browser) shot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (b *browser) checkNoExceptions(t *testing.T) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.exceptions {
		t.Errorf("uncaught script error in a page: %s", e)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	t.Cleanup(cancel)
	return ctx
}

// eventually waits for cond with a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", stepTimeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func valueOf(fields []redstream.Field, name string) string {
	for _, f := range fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}
