# ativo_exporter build and checks. `make` runs what CI runs but the
# end-to-end and operations checks (see .ci/run).

GO         ?= go
# The Go release everything is built, tested and scanned with. The go
# command fetches it through the module proxy; it carries the standard
# library fixes that the machine's go1.26.8 lacks (scripts/vulncheck.sh).
# The Dockerfile's builder image names the same release.
GOTOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN
BIN        ?= ativo_exporter
CACHE      := $(CURDIR)/.cache
TOOLS_BIN  := $(CACHE)/bin
export PATH := $(TOOLS_BIN):$(PATH)

GOLANGCI_LINT_VERSION ?= v2.15.0

VERSION    ?= $(shell cat VERSION)
REVISION   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH     ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
BUILD_USER ?= $(shell id -un 2>/dev/null || echo unknown)@$(shell hostname 2>/dev/null || echo unknown)
BUILD_DATE ?= $(shell date -u +%Y%m%d-%H:%M:%S)
VERSION_PKG := github.com/prometheus/common/version
LDFLAGS := -X $(VERSION_PKG).Version=$(VERSION) \
           -X $(VERSION_PKG).Revision=$(REVISION) \
           -X $(VERSION_PKG).Branch=$(BRANCH) \
           -X $(VERSION_PKG).BuildUser=$(BUILD_USER) \
           -X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

.PHONY: all style vet lint test unused build fakeativo clean ops-check e2e bench bench-compare soak fuzz vulncheck

SOAK_DURATION ?= 2m
FUZZTIME      ?= 10s
BENCHTIME     ?= 1s

all: style vet lint unused test build

style:
	@echo ">> checking code style"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	@echo ">> vetting code"
	$(GO) vet ./...

$(TOOLS_BIN)/golangci-lint:
	@echo ">> installing golangci-lint $(GOLANGCI_LINT_VERSION)"
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: $(TOOLS_BIN)/golangci-lint
	@echo ">> linting code"
	golangci-lint run ./...

test:
	@echo ">> running tests"
	$(GO) test -race -count=1 ./...

unused:
	@echo ">> checking that go mod tidy leaves no diff"
	$(GO) mod tidy
	@git diff --exit-code -- go.mod go.sum

build:
	@echo ">> building $(BIN) $(VERSION)"
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

fakeativo:
	$(GO) build -o fakeativo ./cmd/fakeativo

clean:
	rm -f $(BIN) fakeativo

# Static checks of the operations content (Dockerfile, rules, manifests,
# dashboard, systemd unit, compose); installs promtool, kubeconform and
# friends when absent.
ops-check:
	scripts/check-ops.sh

# End to end: the exporter, the fake Ativo, Prometheus with the shipped
# rules and Alertmanager, on loopback.
e2e:
	scripts/e2e.sh

# Go benchmarks: decoding 1k/10k/100k items and a full collection.
bench:
	BENCHTIME=$(BENCHTIME) scripts/bench.sh

# Side by side with json_exporter v0.7.0 (built from bench/tools), as SPEC 9 measures.
bench-compare:
	bench/compare.sh

# The binary under a high scrape rate while the fake cycles through every fault.
soak:
	SOAK_DURATION=$(SOAK_DURATION) scripts/soak.sh

# Every fuzz target for FUZZTIME each.
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

# govulncheck with an offline vulnerability database.
vulncheck:
	scripts/vulncheck.sh
