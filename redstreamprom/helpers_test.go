package redstreamprom_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// serve registers cs in a fresh pedantic registry and serves it on
// /metrics as a production program would, failing on any gather error.
func serve(t *testing.T, cs ...prometheus.Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

// exposition is one parsed scrape.
type exposition map[string]*dto.MetricFamily

// scrape GETs url, requires a 200 and parses the text exposition.
func scrape(t *testing.T, url string) exposition {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape: parse: %v", err)
	}
	return fams
}

// find returns the series of family name whose labels are exactly
// labelPairs (name, value, name, value...).
func (e exposition) find(name string, labelPairs ...string) *dto.Metric {
	f := e[name]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labelPairs) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			found := false
			for i := 0; i < len(labelPairs); i += 2 {
				if labelPairs[i] == l.GetName() && labelPairs[i+1] == l.GetValue() {
					found = true
				}
			}
			match = match && found
		}
		if match {
			return m
		}
	}
	return nil
}

// value returns the value of a counter, gauge or untyped series, and
// whether it is present.
func (e exposition) value(name string, labelPairs ...string) (float64, bool) {
	m := e.find(name, labelPairs...)
	switch {
	case m == nil:
		return 0, false
	case m.Counter != nil:
		return m.GetCounter().GetValue(), true
	case m.Gauge != nil:
		return m.GetGauge().GetValue(), true
	case m.Untyped != nil:
		return m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// want fails the test unless the series is present with value v.
func (e exposition) want(t *testing.T, v float64, name string, labelPairs ...string) {
	t.Helper()
	got, ok := e.value(name, labelPairs...)
	if !ok {
		t.Errorf("%s{%s}: missing; have:\n%s", name, strings.Join(labelPairs, ","), e.dump(name))
		return
	}
	if got != v {
		t.Errorf("%s{%s} = %v, want %v", name, strings.Join(labelPairs, ","), got, v)
	}
}

// absent fails the test if the series is present.
func (e exposition) absent(t *testing.T, name string, labelPairs ...string) {
	t.Helper()
	if v, ok := e.value(name, labelPairs...); ok {
		t.Errorf("%s{%s} = %v, want no such series", name, strings.Join(labelPairs, ","), v)
	}
}

func (e exposition) dump(name string) string {
	var b strings.Builder
	if f := e[name]; f != nil {
		_, _ = expfmt.MetricFamilyToText(&b, f)
	}
	return b.String()
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
