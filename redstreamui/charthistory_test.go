package redstreamui_test

import (
	"testing"
	"time"

	"github.com/redstream-go/redstream/redstreamui"
)

func TestChartHistorySetsTheChartsWindow(t *testing.T) {
	for _, c := range []struct {
		opts []redstreamui.Option
		want string
	}{
		{nil, "charts cover the last 10 minutes"},
		{[]redstreamui.Option{redstreamui.ChartHistory(3 * time.Minute)}, "charts cover the last 3 minutes"},
	} {
		d := newDash(t, c.opts...)
		wantContains(t, "overview", d.ok("/"), c.want)
	}
}
