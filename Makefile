# xlpt. `make help` lists the targets.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/xlpt
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck

.PHONY: help build build-nocgo test unit fuzz-smoke fuzz lint check deps

help:
	@echo "make deps        install Debian packages (scripts/setup-debian)"
	@echo "make build       build bin/xlpt (cgo, links libxl 4.17)"
	@echo "make build-nocgo build without cgo (every libxl call then fails clearly)"
	@echo "make test        vet, unit tests with -race (incl. differential tests vs libxlutil), fuzz smoke"
	@echo "make e2e         end-to-end tests on the Xen testbed in QEMU"
	@echo "make check       test + e2e: what CI runs"
	@echo "make demo        boot the testbed and show xlpt at work on real Xen"
	@echo "make testbed     boot the testbed with a dom0 shell on this terminal"
	@echo "make testbed-build  build the testbed only (cached)"
	@echo "make fuzz        every fuzz target for FUZZTIME (default 5m)"
	@echo "make bench       speed outside Xen: preflight vs host size, full scan vs floor and lspci (scripts/bench)"
	@echo "make bench-testbed  xl vs xlpt on the testbed (under the testbed lock; minutes)"

deps:
	scripts/setup-debian

build:
	$(GO) build -o $(BIN) ./cmd/xlpt

build-nocgo:
	CGO_ENABLED=0 $(GO) build -o bin/xlpt-nocgo ./cmd/xlpt

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...
	$(STATICCHECK) ./...
	@# The cgo-free core: everything but the binding and the command builds without libxl.
	for p in $$($(GO) list ./... | grep -v -e /xenlight -e /cmd/xlpt -e /internal/xlu); do PKG_CONFIG=/bin/false $(GO) build $$p || exit 1; done

unit:
	$(GO) test -race -count=1 ./...

fuzz-smoke:
	FUZZTIME=$${FUZZTIME:-5s} scripts/fuzz

test: build build-nocgo lint unit fuzz-smoke

fuzz:
	FUZZTIME=$${FUZZTIME:-5m} FUZZPARALLEL=1 scripts/fuzz

check: test e2e

# Benchmarks (never part of `make check`): scripts/bench/.
.PHONY: bench bench-testbed
bench:
	scripts/bench/preflight.sh
	scripts/bench/scan.sh

bench-testbed: testbed-build
	flock /tmp/xlpt-testbed.lock scripts/bench/testbed.sh

# ---- testbed (scripts/testbed) ----
# Targets of the testbed (owner: testbed/e2e; see scripts/testbed/README.md).
.PHONY: testbed-build testbed e2e demo

testbed-build:
	scripts/testbed/build

# Boot Xen + dom0 in QEMU with a dom0 shell on this terminal (poweroff -f ends it).
testbed: testbed-build
	scripts/testbed/run --no-build --shell $(TESTBED_ARGS)

# End-to-end scenarios on the testbed, one package (one Xen boot) at a time:
# e2e/ (issue scenarios) and e2e/policy/ (slots, groups, RDM, MSI).
e2e: testbed-build
	$(GO) test -tags e2e -v -count=1 -p 1 -timeout 60m ./e2e/...

# Boot the testbed and show xlpt at work on real Xen.
demo: testbed-build
	scripts/testbed/demo --no-build
# ---- end of testbed targets ----
