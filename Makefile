# xlpt. `make help` lists the targets.
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
# Where the binary, the generated docs and the package go; the testbeds
# build theirs elsewhere (build/xen-VERSION/) so that a 4.20 build in the
# Debian 13 root never replaces the host's.
BIN ?= bin/xlpt
GEN ?= build/gen
DEBDIR ?= build
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck

# Install layout (GNU conventions): make install PREFIX=/usr DESTDIR=/tmp/root
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/xlpt
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# The systemd unit follows PREFIX as the rest does; Debian 12's package
# keeps units in /lib (usrmerge links it to /usr/lib), Debian 13's in
# /usr/lib (deb-4.20).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
DEB_SYSTEMDUNITDIR ?= /lib/systemd/system

# The version, from git: vX.Y.Z when HEAD is that tag, else
# BASE_VERSION~gitN.HASH (N commits; "~" sorts before the release in
# dpkg), +dirty with uncommitted changes.
BASE_VERSION := 0.1.0
VERSION ?= $(shell v=$$(git describe --tags --exact-match --match 'v[0-9]*' 2>/dev/null) && echo $${v\#v} || \
	echo $(BASE_VERSION)~git$$(git rev-list --count HEAD).$$(git rev-parse --short=7 HEAD))$(shell \
	git diff --quiet HEAD -- 2>/dev/null || echo +dirty)
# The man page's date: the commit's, so the same tree builds the same files.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH
# Hardened as Debian builds C: full RELRO, fortified libc calls in the
# cgo code (lintian checks the binary of make deb for these). Not PIE: a
# PIE xlpt made the dynamic loader apply ~33,000 relocations at every
# start, and `xlpt pci-list` took 450-470 ms on the testbed against
# 230-290 ms without PIE and urfave/cli's docs (timed by hand, 10 runs
# each); xlpt's own code is Go, with no buffer overflows for ASLR to
# blunt. urfave_cli_no_docs leaves out urfave/cli's markdown/man
# generator (blackfriday: ~60 ms of package init per run there); xlpt's
# man page comes from internal/clidoc. Start-up rows: make bench-testbed.
# xlpt_release leaves out the C helpers only xenlight's tests call
# (xenlight/testhooks.go).
export CGO_CPPFLAGS ?= -D_FORTIFY_SOURCE=2
GOTAGS ?= urfave_cli_no_docs,xlpt_release
# libxl is loaded when a command first needs it (xenlight/dl.go): the
# binary names the libxenlight it was built against.
XENLIGHT_SONAME = $(shell scripts/xen-soname 2>/dev/null)
GOBUILD = $(GO) build -trimpath -tags '$(GOTAGS)' \
	-ldflags '-X main.version=$(VERSION) -X github.com/xlpt/xlpt/xenlight.libxenlight=$(XENLIGHT_SONAME) -extldflags "-Wl,-z,relro -Wl,-z,now"'

.PHONY: help build build-nocgo test unit fuzz-smoke fuzz lint check deps gen install deb

help:
	@echo "make deps        install Debian packages (scripts/setup-debian)"
	@echo "make build       build bin/xlpt (cgo, links libxl 4.17)"
	@echo "make build-nocgo build without cgo (every libxl call then fails clearly)"
	@echo "make install     binary, man page, bash completion, docs, systemd unit (PREFIX=/usr/local, DESTDIR)"
	@echo "make deb         build/xlpt_VERSION_ARCH.deb (dpkg-deb, dpkg-shlibdeps; lintian checks it)"
	@echo "make test        vet, unit tests with -race (incl. differential tests vs libxlutil), fuzz smoke"
	@echo "make e2e         end-to-end tests on the Xen testbed in QEMU"
	@echo "make check       test + deb (lintian) + e2e: what CI runs"
	@echo "make demo        boot the testbed and show xlpt at work on real Xen"
	@echo "make testbed     boot the testbed with a dom0 shell on this terminal"
	@echo "make testbed-build  build the testbed only (cached)"
	@echo "make fuzz        every fuzz target for FUZZTIME (default 5m)"
	@echo "make bench       speed outside Xen: preflight vs host size, full scan vs floor and lspci (scripts/bench)"
	@echo "make bench-testbed  xl vs xlpt on the testbed (under the testbed lock; minutes)"
	@echo "make build-4.20  build bin/xlpt-4.20 against Debian 13's libxl 4.20 (in a cached Debian 13 root)"
	@echo "make test-4.20   the differential and binding tests against libxlutil/libxl 4.20"
	@echo "make deb-4.20    build/4.20/xlpt_VERSION+deb13_amd64.deb, for Debian 13 (Xen 4.20)"
	@echo "                 testbed targets take XEN=4.20 for the Xen 4.20 testbed (e.g. make e2e XEN=4.20)"

deps:
	scripts/setup-debian

build:
	@test -n "$(XENLIGHT_SONAME)" || { echo "no libxenlight.so to build against (scripts/xen-soname): install libxen-dev"; exit 1; }
	$(GOBUILD) -o $(BIN) ./cmd/xlpt

build-nocgo:
	CGO_ENABLED=0 $(GOBUILD) -o bin/xlpt-nocgo ./cmd/xlpt

# The man page and the completion script, generated from the command
# definitions by the hidden `xlpt gen-docs` (not committed: nothing to
# keep in step).
gen: build
	mkdir -p $(GEN)
	$(BIN) gen-docs man >$(GEN)/xlpt.1.tmp && mv $(GEN)/xlpt.1.tmp $(GEN)/xlpt.1
	$(BIN) gen-docs bash >$(GEN)/xlpt.bash.tmp && mv $(GEN)/xlpt.bash.tmp $(GEN)/xlpt.bash

install: build gen
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(DOCDIR)
	install -m 755 $(BIN) $(DESTDIR)$(SBINDIR)/xlpt
	install -m 644 $(GEN)/xlpt.1 $(DESTDIR)$(MANDIR)/man1/xlpt.1
	install -m 755 scripts/xlpt-migrate $(DESTDIR)$(SBINDIR)/xlpt-migrate
	install -m 644 scripts/xlpt-migrate.1 $(DESTDIR)$(MANDIR)/man1/xlpt-migrate.1
	install -m 755 scripts/xlpt-save scripts/xlpt-restore $(DESTDIR)$(SBINDIR)/
	install -m 644 scripts/xlpt-save.1 scripts/xlpt-restore.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(GEN)/xlpt.bash $(DESTDIR)$(BASHCOMPDIR)/xlpt
	install -m 644 README.md $(wildcard docs/*.md) $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DOCDIR)/schema
	install -m 644 docs/schema/xlpt-1.json $(DESTDIR)$(DOCDIR)/schema/
	@# the boot-time restore (xlpt restore before xendomains), naming this xlpt
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed 's|/usr/sbin/xlpt|$(SBINDIR)/xlpt|' dist/systemd/xlpt-restore.service >$(DESTDIR)$(SYSTEMDUNITDIR)/xlpt-restore.service
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/xlpt-restore.service

# A Debian package of what make install puts under /usr.
deb:
	rm -rf $(DEBDIR)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(DEBDIR)/deb/root PREFIX=/usr SYSTEMDUNITDIR=$(DEB_SYSTEMDUNITDIR)
	scripts/mkdeb $(DEBDIR)/deb/root '$(VERSION)$(DEB_SUFFIX)' $(DEBDIR)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet ./...
	$(STATICCHECK) ./...
	@# The cgo-free core: everything but the binding and the command builds without libxl.
	for p in $$($(GO) list ./... | grep -v -e /xenlight -e /cmd/xlpt -e /internal/xlu); do PKG_CONFIG=/bin/false $(GO) build -o /dev/null $$p || exit 1; done

unit:
	$(GO) test -race -count=1 ./...

fuzz-smoke:
	FUZZTIME=$${FUZZTIME:-2s} scripts/fuzz

test: build build-nocgo lint unit fuzz-smoke

fuzz:
	FUZZTIME=$${FUZZTIME:-5m} FUZZPARALLEL=1 scripts/fuzz

# What CI runs (.ci/run): scripts/check runs make test, make deb, the e2e
# packages on the Xen 4.17 testbed, then test-4.20, deb-4.20 and the e2e
# packages on the Xen 4.20 testbed, and prints a table of each part's time.
# The Debian 13 root (4.20) and the guest kernel are made in the background
# meanwhile (downloads, dpkg and a compiler; cached in /var/cache/xlpt).
check:
	scripts/check

# The Xen 4.20 half of make check: the build, differential tests and package
# against Debian 13's libxl, then the e2e packages on the 4.20 testbed: the
# same scenarios as on 4.17 (E2E_4.20, E2E_RUN_4.20 and E2E_SKIP_4.20 pick
# others).
E2E_4.20 ?= $(filter-out ./e2e/harness/ ./e2e/twohost/,$(E2E))
E2E_RUN_4.20 ?= .
E2E_SKIP_4.20 ?= ^$$
.PHONY: check-4.20 e2e-4.20
check-4.20: test-4.20 deb-4.20 e2e-4.20
e2e-4.20:
	$(MAKE) --no-print-directory e2e XEN=4.20 E2E='$(E2E_4.20)' E2E_RUN='$(E2E_RUN_4.20)' E2E_SKIP='$(E2E_SKIP_4.20)'

# Benchmarks (never part of `make check`): scripts/bench/.
.PHONY: bench bench-testbed
bench:
	scripts/bench/preflight.sh
	scripts/bench/scan.sh

bench-testbed: testbed-build
	flock /tmp/xlpt-testbed.lock scripts/bench/testbed.sh

# ---- Xen 4.20: Debian 13's libxl, in a Debian 13 root (scripts/debian13) ----
.PHONY: build-4.20 test-4.20 deb-4.20
D13 := scripts/debian13/run

# bin/xlpt-4.20: the same source linked against libxl 4.20.
build-4.20:
	$(D13) 'go build -ldflags "-X github.com/xlpt/xlpt/xenlight.libxenlight=$$(scripts/xen-soname)" -o bin/xlpt-4.20 ./cmd/xlpt'

# The parsers against libxlutil 4.20 and the binding against libxl 4.20's
# constants: the differential and binding tests, run in the Debian 13 root.
# Of rdm's tests only the rdm= ones (libxlutil's parser): the DMAR tests do
# not depend on Xen, and Debian 13's iasl hangs on their tables.
test-4.20:
	$(D13) 'go vet ./xenlight ./internal/... && go test -count=1 ./xl ./xlcfg ./xenlight && go test -count=1 -run "Rdm" ./rdm'

# build/4.20/xlpt_VERSION+deb13_amd64.deb: the package for Debian 13, its
# Depends on the Xen 4.20 libraries (dpkg-shlibdeps in the Debian 13 root),
# the unit under /usr/lib (Debian 13's lintian refuses /lib: merged /usr).
deb-4.20:
	$(D13) 'make deb BIN=build/4.20/xlpt GEN=build/4.20/gen DEBDIR=build/4.20 DEB_SUFFIX=+deb13 DEB_SYSTEMDUNITDIR=/usr/lib/systemd/system'

# ---- testbed (scripts/testbed) ----
# Targets of the testbed (owner: testbed/e2e; see scripts/testbed/README.md).
.PHONY: testbed-build testbed e2e demo

# XEN=4.20 builds and boots the Xen 4.20 testbed (Debian 13 dom0) instead.
XEN ?= 4.17
ifeq ($(XEN),4.17)
TB_DIR := $(CURDIR)/build/testbed
TB_BUILD := scripts/testbed/build
else ifeq ($(XEN),4.20)
TB_DIR := $(CURDIR)/build/testbed-4.20
# The guest (kernel, disk) is made on the host for both testbeds.
TB_BUILD := scripts/testbed/guest-image && $(D13) 'TESTBED_GUEST_DIR=/src/build/guest TESTBED_DIR=/src/build/testbed-4.20 scripts/testbed/build'
else
$(error XEN=$(XEN): 4.17 or 4.20)
endif
export TESTBED_DIR := $(TB_DIR)
# e2e tests build the testbed themselves (e2e/testbed.Build): with this.
export TESTBED_BUILD := $(TB_BUILD)

testbed-build:
	$(TB_BUILD)

# Boot Xen + dom0 in QEMU with a dom0 shell on this terminal (poweroff -f ends it).
testbed: testbed-build
	scripts/testbed/run --no-build --shell $(TESTBED_ARGS)

# End-to-end scenarios on the testbed, one package (one Xen boot) at a time:
# e2e/ (issue scenarios), e2e/policy/ (slots, groups, RDM, MSI, recovery),
# e2e/migrate/ (live migration, pci-move, the multi-function device) and
# e2e/reboot/ (persistent host setup across a reboot).
# E2E picks the packages (each boots Xen once).
E2E ?= ./e2e/harness/ ./e2e/ ./e2e/policy/ ./e2e/migrate/ ./e2e/twohost/ ./e2e/reboot/
E2E_RUN ?= .
E2E_SKIP ?= ^$$
# scripts/e2e-run runs a package's failed tests again (up to twice,
# E2E_RERUNS) when an HVM guest triple-faulted under TCG during them
# (and says so).
e2e: testbed-build
	GO=$(GO) XEN=$(XEN) scripts/e2e-run '$(E2E_RUN)' '$(E2E_SKIP)' $(E2E)

.PHONY: e2e-migrate e2e-recovery
e2e-migrate:
	$(MAKE) --no-print-directory e2e E2E=./e2e/migrate/
e2e-recovery:
	$(MAKE) --no-print-directory e2e E2E=./e2e/policy/ E2E_RUN='^Test(Policy|Recovery)$$' E2E_SKIP='^$$'

# Boot the testbed and show xlpt at work on real Xen.
demo: testbed-build
	scripts/testbed/demo --no-build
# ---- end of testbed targets ----
