# capsa build, install and test entry points.
#
#   make            build every binary into bin/
#   make install    install system packages (apt-get) and the binaries (root)
#   make test       lint, unit and integration tests (root); what CI runs
#   make bench      side-by-side benchmarks against the peers (not part of test)
#   make conformance  the OCI runtime conformance suite (RUNTIME=runc for a peer)

GO        ?= go
PREFIX    ?= /usr/local
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BINDIR    := bin

# capsa-runtime carries a small C stage (internal/nsenter) that runs before the
# Go runtime starts, so it is built with cgo and linked statically: no dynamic
# loader on the container start path, and no libc needed inside a rootfs.
# It links musl rather than glibc: glibc's static start-up probes the CPU
# with dozens of cpuid instructions, each a VM exit on virtual machines
# (measured here: 6 us each, 0.5 ms per start of the binary, which starts
# twice per container). Without musl-gcc it falls back to gcc.
RUNTIME_CC      ?= $(shell command -v musl-gcc >/dev/null 2>&1 && echo musl-gcc || echo gcc)
# encoding/json's v2 engine behind the v1 API: a process that decodes
# config.json once pays for building its reflection caches every time, and
# v2 builds them in half the time (measured here: config.json load 1.5 ms
# -> 0.7 ms, init's config message 0.9 ms -> 0.5 ms, per container start).
RUNTIME_GOEXPERIMENT ?= jsonv2
RUNTIME_TAGS    := osusergo netgo
RUNTIME_LDFLAGS := -s -w -X github.com/capsa-dev/capsa/internal/version.Version=$(VERSION) \
                   -X github.com/capsa-dev/capsa/internal/version.Commit=$(COMMIT) \
                   -linkmode external -extldflags "-static"

GOFILES := $(shell find . -name '*.go' -not -path './bench/results/*' -not -path './_output/*' 2>/dev/null) $(shell find . -name '*.[ch]' -path './internal/*')

.PHONY: all build install install-deps busybox-image test test-unit test-integration test-race test-cgroup2 lint bench conformance clean

all: build

build: $(BINDIR)/capsa-runtime $(BINDIR)/capsa-shim $(BINDIR)/capsa-init $(BINDIR)/capsad $(BINDIR)/capsa

GO_LDFLAGS := -X github.com/capsa-dev/capsa/internal/version.Version=$(VERSION) -X github.com/capsa-dev/capsa/internal/version.Commit=$(COMMIT)

# capsad, the daemon, and capsa, the CLI: pure Go.
$(BINDIR)/capsad: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(GO_LDFLAGS)' -o $@ ./cmd/capsad

$(BINDIR)/capsa: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(GO_LDFLAGS)' -o $@ ./cmd/capsa

$(BINDIR)/capsa-runtime: $(GOFILES) go.mod go.sum
	GOEXPERIMENT=$(RUNTIME_GOEXPERIMENT) CC=$(RUNTIME_CC) CGO_ENABLED=1 $(GO) build -trimpath -tags '$(RUNTIME_TAGS)' -ldflags '$(RUNTIME_LDFLAGS)' -o $@ ./cmd/capsa-runtime

# capsa-shim runs once per container for its whole life: pure Go, static,
# stripped, so that each shim maps as little as possible (measured: VmRSS
# 4.5 MiB without cgo against 6.3 MiB with it).
$(BINDIR)/capsa-shim: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w -X github.com/capsa-dev/capsa/internal/version.Version=$(VERSION) -X github.com/capsa-dev/capsa/internal/version.Commit=$(COMMIT)' -o $@ ./cmd/capsa-shim

# capsa-init is --init's PID 1, bound into containers: static, no libc.
$(BINDIR)/capsa-init: $(GOFILES) go.mod go.sum
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $@ ./cmd/capsa-init

install-deps:
	./scripts/install-deps.sh

install: install-deps build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BINDIR)/capsa-runtime $(DESTDIR)$(PREFIX)/bin/capsa-runtime
	install -m 0755 $(BINDIR)/capsa-shim $(DESTDIR)$(PREFIX)/bin/capsa-shim
	install -m 0755 $(BINDIR)/capsa-init $(DESTDIR)$(PREFIX)/bin/capsa-init
	install -m 0755 $(BINDIR)/capsad $(DESTDIR)$(PREFIX)/bin/capsad
	install -m 0755 $(BINDIR)/capsa $(DESTDIR)$(PREFIX)/bin/capsa
	install -d $(DESTDIR)/etc/capsa
	test -e $(DESTDIR)/etc/capsa/capsad.json || install -m 0644 contrib/capsad.json $(DESTDIR)/etc/capsa/capsad.json
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 contrib/systemd/capsad.service $(DESTDIR)$(PREFIX)/lib/systemd/system/capsad.service
	$(MAKE) busybox-image CAPSA=$(DESTDIR)$(PREFIX)/bin/capsa

# busybox:latest, made offline from Debian's busybox-static and imported
# through the daemon (the CLI starts capsad if none runs). CAPSA: the CLI.
CAPSA ?= $(CURDIR)/$(BINDIR)/capsa
busybox-image:
	./scripts/busybox-image.sh $(CAPSA)

test: build lint test-unit test-integration test-race test-cgroup2

test-unit:
	$(GO) test -count=1 ./internal/...

test-integration: build
	CAPSA_BIN=$(CURDIR)/$(BINDIR) CAPSA_CLI=$(CURDIR)/$(BINDIR)/capsa CAPSA_RUNTIME=$(CURDIR)/$(BINDIR)/capsa-runtime CAPSA_SHIM=$(CURDIR)/$(BINDIR)/capsa-shim CAPSA_INIT=$(CURDIR)/$(BINDIR)/capsa-init $(GO) test -count=1 -timeout 20m ./test/...

# internal/cgroup's v2 tests in a qemu VM with a pure cgroup v2 hierarchy
# (this host is hybrid): see test/cgroup2. About 10 s.
# The daemon's packages (engine, shim) once more under the race detector,
# with their integration tests: the engine's code runs in the test binary.
test-race: build
	CAPSA_RUNTIME=$(CURDIR)/$(BINDIR)/capsa-runtime CAPSA_SHIM=$(CURDIR)/$(BINDIR)/capsa-shim $(GO) test -race -count=1 -timeout 10m ./internal/shim/... ./internal/engine/... ./internal/api/... ./internal/daemon/... ./test/engine/

test-cgroup2:
	$(GO) run ./test/cgroup2

# Installs the peers first (scripts/install-bench-deps.sh), then runs
# bench/runlatency (runtimes) and bench/engine (engines: capsa, podman,
# docker, containerd; see bench/engine/README.md).
# BENCH_ARGS: flags for bench/runlatency, e.g. BENCH_ARGS='-n 20';
# ENGINE_BENCH_ARGS: flags for bench/engine, e.g. ENGINE_BENCH_ARGS='-n 50 -engines capsa,docker'.
bench: build
	./scripts/install-bench-deps.sh
	CAPSA_RUNTIME=$(CURDIR)/$(BINDIR)/capsa-runtime $(GO) run ./bench/runlatency $(BENCH_ARGS)
	$(GO) run ./bench/engine -bin $(CURDIR)/$(BINDIR) $(ENGINE_BENCH_ARGS)
	$(GO) run ./bench/pull -bin $(CURDIR)/$(BINDIR) $(PULL_BENCH_ARGS)

# RUNTIME: a peer to test instead of bin/capsa-runtime (then nothing is built).
conformance: $(if $(RUNTIME),,build)
	./scripts/conformance.sh $(RUNTIME)

STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(GO) vet ./...
	GOFLAGS= $(GO) run $(STATICCHECK) ./...

clean:
	rm -rf $(BINDIR)
