package redstreamui_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/redstream-go/redstream"
)

const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// An entry's headers show on the stream page, the dead letters and a dead
// letter's page, and in the live tail's JSON, apart from its fields and
// named without their prefix; an entry without headers shows none.
func TestHeadersShowApartFromFields(t *testing.T) {
	d := newDash(t)
	h := redstream.HeaderPrefix
	id := d.xadd("orders", h+"traceparent", traceparent, h+"bin", "\xff", "kind", "created")
	plain := d.xadd("plain", "kind", "plain")
	dead := d.deadLetter("orders", id, h+"traceparent", traceparent, "kind", "lost")

	// The headers, then the fields, in one cell.
	headers := `<span class="headers" title="headers: metadata stored as redstream:h:&lt;name&gt; fields">` +
		`<span class="header"><span class="name">traceparent</span><span class="value">` + traceparent + `</span></span>`
	body := d.ok("/stream?name=orders")
	wantContains(t, "stream page", body, `<td class="fields">`+headers+
		`<span class="header"><span class="name">bin</span><span class="value">&#34;\xff&#34;</span></span></span>`+
		`<span class="field"><span class="name">kind</span><span class="value">created</span></span></td>`)
	wantNot(t, "stream page", body, `<span class="name">`+h)

	body = d.ok("/dead?stream=orders")
	wantContains(t, "dead page", body, `<td class="fields">`+headers+`</span>`+
		`<span class="field"><span class="name">kind</span><span class="value">lost</span></span></td>`)
	wantNot(t, "dead page", body, `<span class="name">`+h)

	body = d.ok("/dead/entry?stream=orders&id=" + dead)
	wantContains(t, "dead entry page", body, `<h2>Headers</h2>
<table id="headers">
<thead><tr><th>name</th><th>value</th></tr></thead>
<tbody><tr><td class="name">traceparent</td><td class="value">`+traceparent+`</td></tr></tbody>
</table>
<h2>Fields</h2>`)
	fieldsTable := body[strings.Index(body, `<table id="fields">`):]
	if strings.Contains(fieldsTable, "traceparent") {
		t.Errorf("the dead letter's fields table lists a header:\n%s", fieldsTable)
	}

	p := d.get("/api/tail?stream=orders&after=0")
	var a struct {
		Entries []redstream.Message `json:"entries"`
	}
	if err := json.Unmarshal([]byte(p.body), &a); p.status != http.StatusOK || err != nil || len(a.Entries) != 1 {
		t.Fatalf("/api/tail: %d %v %s", p.status, err, p.body)
	}
	if e := a.Entries[0]; e.Header("traceparent") != traceparent || len(e.Fields) != 1 || e.Fields[0].Name != "kind" {
		t.Errorf("/api/tail entry: headers %q fields %q", e.Headers, e.Fields)
	}

	// Without headers: no headers block, on the page or in the tail.
	body = d.ok("/stream?name=plain")
	wantContains(t, "plain stream page", body, `<tr class="entry" data-id="`+plain+`"><td class="id">`+plain+`</td><td class="fields"><span class="field">`)
	wantNot(t, "plain stream page", body, `class="headers"`)
	if p := d.get("/api/tail?stream=plain&after=0"); strings.Contains(p.body, `"headers"`) {
		t.Errorf("/api/tail of an entry without headers: %s", p.body)
	}
	if m := regexp.MustCompile(`<h2>Headers</h2>`).FindString(d.ok("/dead/entry?stream=orders&id=" + d.deadLetter("orders", plain, "kind", "x"))); m != "" {
		t.Errorf("a dead letter without headers has a Headers table")
	}
}
