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
		{nil, "charts cover the last 10m0s"},
		{[]redstreamui.Option{redstreamui.ChartHistory(90 * time.Second)}, "charts cover the last 1m30s"},
	} {
		d := newDash(t, c.opts...)
		wantContains(t, "overview", d.ok("/"), c.want)
	}
}
