# The two commands a fresh machine needs (see README):
#   go run ./cmd/redstream demo
#   make test

GO ?= go

.PHONY: test redis-server check fmt vet race demo

## test: install redis-server if missing, then check formatting, vet and run every test with -race
test: redis-server check race

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

demo:
	$(GO) run ./cmd/redstream demo
