SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO ?= go
GOFMT ?= gofmt

# Which servers scripts/services makes sure of before `test` and `bench` (postgres, mariadb,
# redis, rabbitmq, prometheus or all). The default catalog and the test suites use all four
# servers; the acceptance suite also runs prometheus and promtool (Debian's package).
SERVICES ?= all

# Dev values for `make run`; each can be overridden from the environment. scripts/dev starts
# make run's own PostgreSQL (the state database and the node pg-local) and Redis under .dev/ and
# sets DATABASE_URL, OMNIBROKER_POSTGRES_URL and OMNIBROKER_REDIS_URL to them, unless they are
# set already; the machine's MariaDB and RabbitMQ serve as they are (the RabbitMQ management API
# with its default login; the mysql node's default_url needs no password).
OMNIBROKER_USERNAME ?= admin
OMNIBROKER_PASSWORD ?= admin
OMNIBROKER_CONFIG ?= config/catalog.yml
OMNIBROKER_LISTEN ?= :8080
OMNIBROKER_RABBITMQ_URL ?= http://guest:guest@127.0.0.1:15672
DEV_KEY := .dev/encryption-key

# staticcheck 2026.2.2 (v0.8.2), the newest release, supports Go 1.26. It is built by the Go in use,
# kept per Go version, so a Go upgrade rebuilds it.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/tools/$(shell $(GO) env GOVERSION 2>/dev/null)/staticcheck-$(STATICCHECK_VERSION)/staticcheck

# The ginkgo CLI at the version go.mod requires for the library, so the two never disagree;
# run as pkg@version so it needs nothing of the CLI's own dependencies in go.mod.
# GINKGO_ARGS adds flags of your own, e.g. make test GINKGO_ARGS='--focus=Provision'.
# manifests/ is a Go module of its own (the Kubernetes libraries its tests need stay out of
# the broker's module): the race build skips it, and `make manifests` runs it.
GINKGO_FLAGS := -r --race --randomize-all --fail-on-pending --keep-going -p --skip-package=manifests
GINKGO_ARGS ?=
# How long `make test` runs each fuzz target (scripts/fuzz).
FUZZTIME ?= 10s
# What `make build` and `make image` stamp into the binary (omnibroker version); without git,
# or outside a checkout, both are empty and the binary falls back to Go's build info.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# The image `make image` builds; push it to your registry under a name of your own, e.g.
# make image IMAGE=registry.example.com/omnibroker:1.2.3.
IMAGE ?= omnibroker:$(or $(VERSION),dev)

# Where ginkgo writes its JUnit report, from which `make test` prints its closing count.
REPORT_DIR := bin/test-reports

.PHONY: help run stop build image image-check test manifests fuzz bench lint fmt-check vet staticcheck generate services

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-12s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: $(DEV_KEY) ## start the servers if needed (PostgreSQL and Redis of its own under .dev/), migrate, and serve the broker on :8080
	scripts/services mariadb rabbitmq
	scripts/dev start
	@settings="$$(scripts/dev env)"; eval "$$settings"; export DATABASE_URL OMNIBROKER_POSTGRES_URL OMNIBROKER_REDIS_URL; \
	OMNIBROKER_USERNAME='$(OMNIBROKER_USERNAME)' \
	OMNIBROKER_PASSWORD='$(OMNIBROKER_PASSWORD)' \
	OMNIBROKER_ENCRYPTION_KEY="$${OMNIBROKER_ENCRYPTION_KEY:-$$(cat $(DEV_KEY))}" \
	OMNIBROKER_CONFIG='$(OMNIBROKER_CONFIG)' \
	OMNIBROKER_LISTEN='$(OMNIBROKER_LISTEN)' \
	OMNIBROKER_RABBITMQ_URL='$(OMNIBROKER_RABBITMQ_URL)' \
	$(GO) run ./cmd/omnibroker serve

stop: ## stop the PostgreSQL and Redis that make run started under .dev/ (their data stays for the next run)
	scripts/dev stop

# Generated once and kept, so the credentials sealed by one `make run` open in the next.
$(DEV_KEY):
	@mkdir -p $(@D)
	@umask 077 && head -c32 /dev/urandom | base64 > $@
	@echo "wrote a development encryption key to $@"

build: ## build bin/omnibroker, its version and commit stamped in
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/omnibroker ./cmd/omnibroker

image: ## build the container image omnibroker:VERSION (or IMAGE=name:tag) with podman, installed when missing, or docker
	@rm -rf bin/image && mkdir -p bin/image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/image/omnibroker ./cmd/omnibroker
	scripts/image build bin/image '$(IMAGE)' '$(VERSION)'

image-check: ## check that image without running it: user, entrypoint, cmd, files, a static binary that runs version
	scripts/image check '$(IMAGE)'

test: services lint ## gofmt, vet, staticcheck, every ginkgo suite against real servers, the manifests, the image where podman is, then each fuzz target for FUZZTIME
	@rm -rf $(REPORT_DIR)
	rc=0; $(GO) run github.com/onsi/ginkgo/v2/ginkgo@$$($(GO) list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2) \
		$(GINKGO_FLAGS) --junit-report=junit.xml --output-dir=$(REPORT_DIR) $(GINKGO_ARGS) || rc=$$?; \
	report=$(REPORT_DIR)/junit.xml; \
	if [[ -f $$report ]]; then \
		specs=$$(grep -c '<testcase name="\[It\]' $$report || true); \
		failed=$$(grep -c '<failure' $$report || true); \
		skipped=$$(grep -c '<skipped' $$report || true); \
		echo "specs: $$((specs - failed - skipped)) passed, $$failed failed, $$skipped skipped"; \
	fi; \
	$(MAKE) --no-print-directory manifests || rc=$$?; \
	if scripts/image builder >/dev/null; then \
		$(MAKE) --no-print-directory image image-check || rc=$$?; \
	else \
		echo "image: SKIPPED: neither podman nor a docker daemon is here (make image installs Debian's podman)"; \
	fi; \
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' scripts/fuzz || rc=$$?; \
	exit $$rc

manifests: ## render the kustomize base with kustomize's library, decode it strictly, and check it and the cf manifest against the binary
	cd manifests && GO='$(GO)' $(GO) test -count=1 ./...

fuzz: ## run each fuzz target (go test -fuzz, one at a time) for FUZZTIME (10s)
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' scripts/fuzz

# BENCH_ROUNDS is how many rounds BenchmarkTable (the end-to-end table against the floor) runs.
BENCH_ROUNDS ?= 40

bench: services ## run the benchmarks against the local servers, then print the end-to-end table
	$(GO) test -run '^$$' -bench . -skip '^BenchmarkTable$$' -benchmem ./...
	$(GO) test -run '^$$' -bench '^BenchmarkTable$$' -benchtime $(BENCH_ROUNDS)x ./broker

lint: fmt-check vet staticcheck ## gofmt, vet and staticcheck only

fmt-check:
	@files="$$($(GOFMT) -l .)"; \
	if [[ -n $$files ]]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$files"; exit 1; fi

vet:
	$(GO) vet ./...
	cd manifests && $(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	cd manifests && $(abspath $(STATICCHECK)) ./...

$(STATICCHECK):
	GOBIN='$(abspath $(@D))' $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

generate: ## go generate ./...
	$(GO) generate ./...

services:
	scripts/services $(SERVICES)
