# wacard — run `make help` for the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help run test unit build vet fmt bench fuzz deploy-check clean

help: ## list the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  %-14s %s\n",$$1,$$2}' $(MAKEFILE_LIST)

run: ## run the API and worker with a sandbox device "demo" on :3000 (needs Redis)
	WACARD_SANDBOX_DEVICES=$${WACARD_SANDBOX_DEVICES:-demo} $(GO) run -ldflags "$(LDFLAGS)" ./cmd/wacard serve

test: ## start Redis/Postgres if needed, check deploy/ (installs prometheus), then vet, check formatting and run every test
	./.ci/services
	./deploy/check.sh
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 10m ./...

unit: ## the tests without the race detector (faster)
	$(GO) test -count=1 ./...

build: ## build bin/wacard
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/wacard ./cmd/wacard

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w .

bench: ## Go benchmarks of the hot pure functions
	$(GO) test -run=NONE -bench=. -benchmem ./internal/...

FUZZTIME ?= 20s
fuzz: ## run every fuzz target for FUZZTIME each
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run=NONE -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

deploy-check: ## promtool checks of the Prometheus config, alerts and dashboard
	./deploy/check.sh

clean: ## remove build output
	rm -rf bin
