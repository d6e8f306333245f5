// Package e2e holds the dashboard's end-to-end test: the pages of package
// redstreamui served in-process against a private redis-server and driven
// in headless Chromium with chromedp. It is a module of its own, so the
// library never depends on chromedp. Run it with
//
//	cd e2e && go test -race -count=1 ./...
//
// Screenshots of every page it visits land in e2e/artifacts/; with -docs
// the overview and dead-letter ones are also copied to docs/ for the README.
package e2e
