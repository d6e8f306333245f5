# The two commands a fresh machine needs (see README):
#   go run ./cmd/redstream demo
#   make test

GO ?= go

.PHONY: test redis-server check fmt vet race bench-smoke bench demo

## test: install redis-server if missing, then check formatting, vet, run every test with -race,
## and run each Go benchmark once as a smoke test
test: redis-server check race bench-smoke

redis-server:
	@scripts/ensure-redis-server.sh

check: fmt vet

fmt:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

race:
	$(GO) build ./...
	$(GO) test -race -count=1 -timeout 15m ./...

bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...

## bench: redstream against its peers on a private redis-server (see benchmarks/README.md)
bench: redis-server
	cd benchmarks && $(GO) run .

demo:
	$(GO) run ./cmd/redstream demo
