# wacard — run `make help` for the targets.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: help run test unit build vet fmt bench faults faults-short fuzz deploy-check clean

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
	$(MAKE) --no-print-directory faults-short

unit: ## the tests without the race detector (faster)
	$(GO) test -count=1 ./...

build: ## build bin/wacard
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/wacard ./cmd/wacard

vet: ## go vet
	$(GO) vet ./...

fmt: ## gofmt the tree
	gofmt -w .

bench: ## measure accept, batch, latency and scale against same-run references (docs/benchmarks.md), then the Go benchmarks
	./.ci/services
	$(GO) run ./cmd/wacardbench bench
	$(GO) test -run=NONE -bench=. -benchmem ./internal/... ./producer/

faults: ## fault suite on real processes: kill -9, Redis restart, SIGSTOP fencing, webhook outage (docs/reliability.md)
	./.ci/services
	$(GO) run ./cmd/wacardbench faults

faults-short: ## the fault suite with small counts and a 3 s lease TTL (about a minute; run by make test)
	./.ci/services
	$(GO) run ./cmd/wacardbench faults -short

FUZZTIME ?= 20s
fuzz: ## run every fuzz target for FUZZTIME each; prints the executions each reached
	$(GO) run ./cmd/wacardbench fuzz -fuzztime=$(FUZZTIME)

deploy-check: ## promtool checks of the Prometheus config, alerts and dashboard
	./deploy/check.sh

clean: ## remove build output
	rm -rf bin
