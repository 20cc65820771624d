# herd: top-level tasks. `make demo` and `make test` install what they need first.
BUILD_PKGS := gcc libc6-dev make cmake pkg-config libuv1-dev node-llhttp libyaml-dev libjansson-dev \
              libsqlite3-dev libssl-dev libcmocka-dev openssl curl
# haproxy and nginx-light: peers the tests hold herd's numbers against (a balancer's own log,
# a TLS server's resumed sessions). podman and its helpers play deploy/k8s (e2e.kube): runc
# (crun refuses hybrid cgroups), iptables and the dnsname plugin (pods find the master by
# name), catatonit (the pods' pause image), debootstrap (the image's base, no registry
# needed); systemd: systemd-analyze verify of deploy/systemd (e2e.systemd); prometheus: scrapes
# the master and a gateway (integration.metrics)
TEST_PKGS := chromium iproute2 haproxy nginx-light podman runc iptables catatonit debootstrap \
             golang-github-containernetworking-plugin-dnsname systemd prometheus
BENCH_PKGS := wrk nginx-light haproxy bc python3 util-linux time
# libFuzzer: Debian's clang and its compiler-rt (`make fuzz`; `make test` runs each target 20 s)
FUZZ_PKGS := clang libclang-rt-14-dev
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
MAKEFLAGS += --no-print-directory
JOBS := $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps test-deps bench-deps fuzz-deps build build-asan build-tsan build-fuzz test demo \
        bench fuzz fuzz-smoke clean format

all: build

# Installs only the packages that are missing; a no-op (no apt call) when all are present.
# web/node_modules: uPlot (embedded into herd) and playwright-core (browser tests), from npm.
deps:
	@./scripts/install-deps.sh $(BUILD_PKGS)
	@./scripts/web-deps.sh

test-deps: deps
	@./scripts/install-deps.sh $(TEST_PKGS)

bench-deps: deps
	@./scripts/install-deps.sh $(BENCH_PKGS)

fuzz-deps: deps
	@./scripts/install-deps.sh $(FUZZ_PKGS)

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build -j$(JOBS)

build-asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHERD_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j$(JOBS)

build-tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DHERD_TSAN=ON >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target herd herd_integration

# The libFuzzer targets of tests/fuzz (clang, ASan + UBSan, coverage-instrumented).
build-fuzz: fuzz-deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHERD_FUZZ=ON \
	    -DBUILD_TESTING=OFF >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target herd_fuzz

# Each fuzz target for FUZZ_SECONDS (default 60), one after the other (FUZZ_TARGETS="url hist"
# for some); executions and crashes per target at the end, crashing inputs in
# build-fuzz/fuzz-artifacts/. Not part of `make test`.
fuzz: build-fuzz
	@./scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Each fuzz target once over its seed corpus (a second or so).
fuzz-smoke: build-fuzz
	@cd build-fuzz && ctest --output-on-failure -L '^fuzz$$'

# Unit, integration and browser (e2e: the HTML reports in headless Chromium) tests under
# ASan + UBSan, plus a warning-free release build; and the
# load engine's multi-threaded runs (the bench integration tests), the gateway's threads and
# distributed mode's workers (threads for load, posting and polling) under ThreadSanitizer
# (tests/tsan.supp says what it leaves out and why), whose
# reports make herd exit non-zero and so fail the tests; and each libFuzzer target over its
# seeds, then for HERD_FUZZ_CI_SECONDS (20) from them. CTest's summary comes last.
test: test-deps fuzz-deps build build-asan build-tsan build-fuzz
	@cd build-tsan && TSAN_OPTIONS="halt_on_error=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	    ctest --output-on-failure --timeout 300 -R "integration.(bench|gateway|dist)"
	@cd build-fuzz && ctest --output-on-failure -j$(JOBS) -L fuzz
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure --timeout 300 -j$(JOBS)

demo: build
	@./scripts/demo.sh build/herd

bench: build bench-deps
	@./bench/node_vs_nginx.sh build/herd
	@./bench/bench_vs_wrk.sh build/herd
	@./bench/connections.sh build/herd
	@./bench/open_model.sh build/herd
	@./bench/gateway_vs_haproxy.sh build/herd
	@./bench/dist-overhead.sh build/herd
	@./bench/dist-scale.sh build/herd

clean:
	rm -rf build build-asan build-tsan build-fuzz web/node_modules

format:
	clang-format -i $$(find src tests -name '*.[ch]')
