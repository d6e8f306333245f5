module github.com/redstream-go/redstream/e2e

go 1.26.8

require (
	github.com/chromedp/cdproto v0.160.1
	github.com/chromedp/chromedp v0.23.1
	github.com/redis/rueidis v1.0.79
	github.com/redstream-go/redstream v0.0.0
)

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace github.com/redstream-go/redstream => ../
