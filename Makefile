# The two commands a fresh machine needs (see README):
#   go run ./cmd/redstream demo
#   make test

GO ?= go

.PHONY: test redis-server chromium check fmt vet race modules bench-smoke bench demo

## test: install redis-server and chromium if missing, then check formatting, vet, run every test
## with -race, run each Go benchmark once as a smoke test, and test the separate modules
## (benchmarks/, watermill/, e2e/: the dashboard in headless Chromium)
test: redis-server chromium check race bench-smoke modules

redis-server:
	@scripts/ensure-redis-server.sh

chromium:
	@scripts/ensure-chromium.sh

check: fmt vet

fmt:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

race:
	$(GO) build ./...
	$(GO) test -race -count=1 -timeout 15m ./...

# Modules of their own, so the library never depends on what they import.
modules:
	@echo "== benchmarks"
	cd benchmarks && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 15m ./...
	@echo "== watermill"
	scripts/test-watermill.sh
	@echo "== e2e"
	cd e2e && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 10m ./...

bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime=1x ./...

## bench: redstream against its peers on a private redis-server (see benchmarks/README.md)
bench: redis-server
	cd benchmarks && $(GO) run .

demo:
	$(GO) run ./cmd/redstream demo

.PHONY: mutants
## mutants: apply each deliberate bug in scripts/mutants/mutants.txt to a scratch copy and
## check that its tests catch it (by hand, not part of test; MUTANTS=regexp picks some)
mutants: redis-server
	$(GO) run ./scripts/mutants $(if $(MUTANTS),-run '$(MUTANTS)')
