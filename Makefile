# TTLKV: `make test` runs every suite; `make lib` builds libttlkv; `make install`.
#
# The C library is built with the system compiler; sanitizer builds use clang
# (the Swift toolchain's clang has the ASan/TSan/UBSan runtimes).

CC      ?= cc
SAN_CC  ?= $(CC)
PYTHON  ?= python3
SWIFT   ?= swift
PREFIX  ?= /usr/local
VERSION := 0.2.0
# The soname's number: see "Binary compatibility" in ttlkv.h.
SOVERSION := 1

BUILD   := build
SRC_DIR := CSources/ttlkv
SRCS    := $(wildcard $(SRC_DIR)/*.c)
HDRS    := $(wildcard $(SRC_DIR)/*.h $(SRC_DIR)/include/*.h)
OBJS    := $(SRCS:$(SRC_DIR)/%.c=$(BUILD)/obj/%.o)

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes
CFLAGS  ?= -O2 -g
LIB_CFLAGS := -std=gnu11 $(WARN) -fPIC -fvisibility=hidden -pthread -I$(SRC_DIR)/include $(CFLAGS)
LDLIBS  := -lck -pthread

# Test builds compile the library sources in, with fault injection.
TEST_CFLAGS := -std=gnu11 $(WARN) -g -pthread -I$(SRC_DIR)/include -I$(SRC_DIR) \
               -ITests/C -DTTLKV_TESTING
ASAN_FLAGS  := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS  := -O1 -fsanitize=thread -fno-omit-frame-pointer

# libFuzzer needs clang (the Swift toolchain's has the runtimes).
FUZZ_CC     ?= clang
FUZZ_FLAGS  := -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
               -fuse-ld=lld -I$(SRC_DIR)/include -I$(SRC_DIR) -DTTLKV_TESTING
FUZZ_SECONDS ?= 600
FUZZ_CI_SECONDS ?= 60

C_SUITES    := unit faults oom_sweep hostile stress threads churn clock batch events update reuse
ASAN_SUITES := unit faults oom_sweep stress threads churn batch events update
TSAN_SUITES := stress threads events update reuse

.PHONY: all deps lib install test test-c test-asan test-tsan test-fuzz fuzz fuzz-merge test-python test-dlclose \
        test-example test-capacity test-swift test-outside docs test-bench bench bench-driver bench-quick \
        bench-deps loadtest soak microbench clean

all: lib

# Installs Concurrency Kit and xxHash headers with apt-get when they are missing.
deps:
	@missing=""; \
	for pair in ck_hs.h:libck-dev xxhash.h:libxxhash-dev; do \
		echo "#include <$${pair%%:*}>" | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
			echo "deps: installing$$missing"; \
			$$sudo apt-get update -qq && $$sudo apt-get install -y -qq$$missing || \
			{ echo "deps: could not install$$missing; run: sudo apt-get install$$missing" >&2; exit 1; }; \
		else \
			echo "deps: missing$$missing: install Concurrency Kit 0.7.1 (libck-dev) and xxHash (libxxhash-dev)" >&2; \
			exit 1; \
		fi; \
	fi

lib: deps $(BUILD)/libttlkv.so $(BUILD)/libttlkv.a

$(BUILD)/obj/%.o: $(SRC_DIR)/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c $< -o $@

# -z nodelete: threads that used the library run its pthread-key
# destructors when they exit, so dlclose must never unmap it.
$(BUILD)/libttlkv.so: $(OBJS)
	$(CC) -shared -Wl,-soname,libttlkv.so.$(SOVERSION) -Wl,-z,nodelete -o $@ $(OBJS) $(LDLIBS)

$(BUILD)/libttlkv.a: $(OBJS)
	rm -f $@
	ar rcs $@ $(OBJS)

$(BUILD)/ttlkv.pc: Makefile
	@mkdir -p $(@D)
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: ttlkv' 'Description: Concurrent in-memory key/value store with per-key TTL' \
	  'Version: $(VERSION)' 'Requires.private: ck' 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -lttlkv' 'Libs.private: -pthread' > $@

install: lib $(BUILD)/ttlkv.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(SRC_DIR)/include/ttlkv.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/libttlkv.so $(DESTDIR)$(PREFIX)/lib/libttlkv.so.$(SOVERSION)
	ln -sf libttlkv.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libttlkv.so
	install -m 644 $(BUILD)/libttlkv.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/ttlkv.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/

test: test-c test-asan test-tsan test-fuzz test-python test-dlclose test-example test-capacity test-swift \
      test-outside docs test-bench
	@echo "make test: every suite passed"

# --- C suites: plain, AddressSanitizer + UBSan (+ LeakSanitizer), ThreadSanitizer.
$(BUILD)/test/%: Tests/C/%.c $(SRCS) $(HDRS) $(wildcard Tests/C/*.h)
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -O2 $< $(SRCS) -o $@ $(LDLIBS)

$(BUILD)/asan/%: Tests/C/%.c $(SRCS) $(HDRS) $(wildcard Tests/C/*.h)
	@mkdir -p $(@D)
	$(SAN_CC) $(TEST_CFLAGS) $(ASAN_FLAGS) $< $(SRCS) -o $@ $(LDLIBS)

$(BUILD)/tsan/%: Tests/C/%.c $(SRCS) $(HDRS) $(wildcard Tests/C/*.h)
	@mkdir -p $(@D)
	$(SAN_CC) $(TEST_CFLAGS) $(TSAN_FLAGS) $< $(SRCS) -o $@ $(LDLIBS)

test-c: deps $(C_SUITES:%=$(BUILD)/test/%)
	@set -e; for t in $(C_SUITES); do $(BUILD)/test/$$t; done

test-asan: deps $(ASAN_SUITES:%=$(BUILD)/asan/%)
	@set -e; for t in $(ASAN_SUITES); do \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 TTLKV_TEST_SCALE=asan $(BUILD)/asan/$$t; done

test-tsan: deps $(TSAN_SUITES:%=$(BUILD)/tsan/%)
	@set -e; for t in $(TSAN_SUITES); do \
		TSAN_OPTIONS=halt_on_error=1 TTLKV_TEST_SCALE=tsan setarch -R $(BUILD)/tsan/$$t; done

# --- Fuzzing: the API against a model (Tests/Fuzz/fuzz_api.c).
$(BUILD)/fuzz_api: Tests/Fuzz/fuzz_api.c $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $< $(SRCS) -o $@ $(LDLIBS)

# Replays the committed corpus, then fuzzes for FUZZ_CI_SECONDS (new inputs
# go to a scratch corpus, never into the repository).
test-fuzz: deps $(BUILD)/fuzz_api
	rm -rf $(BUILD)/fuzz-ci && mkdir -p $(BUILD)/fuzz-ci
	cd $(BUILD) && { ./fuzz_api -runs=0 ../Tests/Fuzz/corpus > fuzz-replay.log 2>&1 || { tail -40 fuzz-replay.log; exit 1; }; }
	cd $(BUILD) && { ./fuzz_api -max_total_time=$(FUZZ_CI_SECONDS) -print_final_stats=1 fuzz-ci ../Tests/Fuzz/corpus \
		> fuzz-ci.log 2>&1 || { tail -40 fuzz-ci.log; exit 1; }; }
	@grep -E "^stat::number_of_executed_units" $(BUILD)/fuzz-ci.log; echo "fuzz: corpus replayed, no mismatch in $(FUZZ_CI_SECONDS) s of fuzzing"

# Explores for FUZZ_SECONDS; `make fuzz-merge` folds new finds into the corpus.
fuzz: deps $(BUILD)/fuzz_api
	mkdir -p $(BUILD)/fuzz-corpus
	cd $(BUILD) && ./fuzz_api -max_total_time=$(FUZZ_SECONDS) fuzz-corpus ../Tests/Fuzz/corpus

fuzz-merge: $(BUILD)/fuzz_api
	$(BUILD)/fuzz_api -merge=1 Tests/Fuzz/corpus $(BUILD)/fuzz-corpus

# 10 million keys into a store opened for 10 million: no resize.
test-capacity: deps $(BUILD)/test/capacity
	$(BUILD)/test/capacity

test-python: lib
	$(PYTHON) Tests/Python/test_ctypes.py $(BUILD)/libttlkv.so

# The shared library as a plugin host loads it: dlopen, use from a thread,
# dlclose, and only then let the thread exit (its destructors run then).
$(BUILD)/dlclose: Tests/C/dlclose.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -g -pthread -I$(SRC_DIR)/include $< -o $@ -ldl

test-dlclose: lib $(BUILD)/dlclose
	$(BUILD)/dlclose $(BUILD)/libttlkv.so

# Builds the example the way the README tells users to: install, pkg-config.
test-example: deps
	$(MAKE) --no-print-directory install PREFIX=$(CURDIR)/$(BUILD)/stage >/dev/null
	PKG_CONFIG_PATH=$(CURDIR)/$(BUILD)/stage/lib/pkgconfig; export PKG_CONFIG_PATH; \
	$(CC) -o $(BUILD)/hello examples/hello.c $$(pkg-config --cflags --libs ttlkv) && \
	LD_LIBRARY_PATH=$(CURDIR)/$(BUILD)/stage/lib $(BUILD)/hello

# The Swift suites, then the suites that run threads against each other
# again under TSan, which stops at its first report. The suites run one
# after another: ExpiryTests times the worker on the real clock, which must
# not compete for 2 cores with the stress suites.
test-swift: deps
	$(SWIFT) test --no-parallel
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan \
	    --filter "ConcurrencyStressTests|StoreAPITests|StoreBatchTests|ExpiryEventTests"

# A package outside this one that depends on TTLKV by path, as a user's does
# (Tests/Outside). Built from scratch, it must not print a single warning;
# its program is the README's Swift example (checked to be the same text),
# and it must run.
OUTSIDE_MAIN := Tests/Outside/Sources/SessionCache/main.swift
test-outside: deps
	@mkdir -p $(BUILD) && rm -rf $(BUILD)/outside
	@awk '/^<!-- $(subst /,\/,$(OUTSIDE_MAIN)) -->/ { want = 1; next } \
	     want && /^```swift/ { inside = 1; next } inside && /^```/ { exit } inside' README.md \
	     | diff -u - $(OUTSIDE_MAIN) || { echo "test-outside: the README's example differs from $(OUTSIDE_MAIN)" >&2; exit 1; }
	cd Tests/Outside && $(SWIFT) build --scratch-path ../../$(BUILD)/outside > ../../$(BUILD)/outside.log 2>&1 \
	    || { cat ../../$(BUILD)/outside.log; exit 1; }
	@if grep -E "warning:" $(BUILD)/outside.log; then echo "test-outside: warnings in a dependent package" >&2; exit 1; fi
	$(BUILD)/outside/debug/SessionCache

# The DocC catalog (Sources/TTLKV/TTLKV.docc) as a static site in
# $(BUILD)/docs; fails on any documentation warning.
docs: deps
	$(SWIFT) package --allow-writing-to-directory $(BUILD)/docs generate-documentation --target TTLKV \
	    --warnings-as-errors --transform-for-static-hosting --output-path $(BUILD)/docs

# The main job: every scenario on both stores, each store in its own
# long-lived process, measured in interleaved rounds (about 7 minutes at 10M
# keys on 2 cores). Writes the report to build/bench/index.html. Pass options
# with BENCH_ARGS="--keys 1000000 --rounds 7 ...".
BENCH_ARGS ?= --output $(BUILD)/bench
BENCH_DRIVER := Benchmarks/.build/release/ttlkv-bench
bench: deps bench-driver
	$(BENCH_DRIVER) compare $(BENCH_ARGS)

bench-driver:
	cd Benchmarks && $(SWIFT) build -c release --product ttlkv-bench

# The same scenarios at small sizes (about a minute), into build/bench-quick.
BENCH_QUICK_ARGS := --keys 200000 --duration 0.5 --warmup 0.2 --rounds 3 --storm-keys 20000 \
                    --churn-keys 10000 --churn-rate 20000 --churn-replacements 5 --quiet 0.5
bench-quick: deps bench-driver
	@mkdir -p $(BUILD)/bench-quick
	$(BENCH_DRIVER) compare $(BENCH_QUICK_ARGS) --output $(BUILD)/bench-quick > $(BUILD)/bench-quick/compare-output.txt
	@sed -n '1,7p' $(BUILD)/bench-quick/compare-output.txt

# The driver's unit tests, then bench-quick, whose every table, results.json
# and report are checked; the report must render in headless Chromium
# (installed with apt-get when missing). Speed is not asserted.
test-bench: deps bench-deps bench-quick
	cd Benchmarks && $(SWIFT) test
	$(PYTHON) Benchmarks/Tests/report/check_report.py $(BUILD)/bench-quick

bench-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if command -v apt-get >/dev/null 2>&1; then \
			sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
			echo "bench-deps: installing chromium"; \
			$$sudo apt-get update -qq && $$sudo apt-get install -y -qq chromium >/dev/null || \
			{ echo "bench-deps: could not install chromium; run: sudo apt-get install chromium" >&2; exit 1; }; \
		else \
			echo "bench-deps: the report test needs headless Chromium (Debian: chromium)" >&2; exit 1; \
		fi; }

# Soak: MINUTES of mixed load with short-TTL churn on one store (ck unless
# SOAK_ARGS says --store native); prints insert and get latency, entries,
# pending records and memory per minute, and fails unless the last third
# stays within 1.5x of the middle third. Not in `make test`.
MINUTES ?= 10
SOAK_ARGS ?= --keys 1000000 --churn-rate 50000
soak: deps bench-driver
	$(BENCH_DRIVER) soak --minutes $(MINUTES) $(SOAK_ARGS)

# Micro-benchmarks (package-benchmark): time and allocations per operation.
# MICROBENCH_ARGS="--no-progress" for a log without the progress bars.
MICROBENCH_ARGS ?=
microbench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark $(MICROBENCH_ARGS)

# The C load test of the issue: 10M keys, 2 threads, 90% get / 10% put.
loadtest: deps $(BUILD)/loadtest
	$(BUILD)/loadtest

$(BUILD)/loadtest: examples/loadtest.c $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -g -pthread -I$(SRC_DIR)/include $< $(SRCS) -o $@ $(LDLIBS)

clean:
	rm -rf $(BUILD)

# --- The Redis-protocol server, ttlkv-server (issue 12). Its Swift unit tests
# run in test-swift; test-server runs the integration suites (redis-py,
# redis-cli, the differential test against redis-server, twemproxy, abuse,
# lifecycle), which start their servers on free loopback ports themselves.
# Needs redis-server, redis-tools, nutcracker and the Python redis and pytest
# packages (.ci/run installs them).
SWIFTC ?= swiftc
PYTEST ?= $(PYTHON) -m pytest
SERVER_PARSER := Sources/TTLKVServer/Protocol/RequestParser.swift Sources/TTLKVServer/Protocol/InlineArguments.swift
SERVER_FUZZ_CI_SECONDS ?= 30
# The Swift runtime's crash reporter trips AddressSanitizer: libFuzzer reports.
FUZZ_ENV := SWIFT_BACKTRACE=enable=no

.PHONY: test-server test-fuzz-server fuzz-server fuzz-server-merge bench-server test-server-isolation

test: test-server test-fuzz-server test-server-isolation
fuzz: fuzz-server

test-server: deps
	$(SWIFT) build --product ttlkv-server
	TTLKV_SERVER=$(CURDIR)/.build/debug/ttlkv-server $(PYTEST) -q -p no:cacheprovider Tests/Server

# The request parser alone, under libFuzzer and AddressSanitizer
# (Tests/Fuzz/Server/fuzz_request.swift says what it checks).
$(BUILD)/fuzz_request: Tests/Fuzz/Server/fuzz_request.swift $(SERVER_PARSER)
	@mkdir -p $(@D)
	$(SWIFTC) -sanitize=fuzzer,address -use-ld=lld -parse-as-library -O -g $^ -o $@

test-fuzz-server: $(BUILD)/fuzz_request
	rm -rf $(BUILD)/fuzz-server-ci && mkdir -p $(BUILD)/fuzz-server-ci
	cd $(BUILD) && { $(FUZZ_ENV) ./fuzz_request -runs=0 ../Tests/Fuzz/Server/corpus > fuzz-server-replay.log 2>&1 || { tail -40 fuzz-server-replay.log; exit 1; }; }
	cd $(BUILD) && { $(FUZZ_ENV) ./fuzz_request -max_total_time=$(SERVER_FUZZ_CI_SECONDS) -print_final_stats=1 fuzz-server-ci \
		../Tests/Fuzz/Server/corpus > fuzz-server-ci.log 2>&1 || { tail -40 fuzz-server-ci.log; exit 1; }; }
	@grep -E "^stat::number_of_executed_units" $(BUILD)/fuzz-server-ci.log; echo "fuzz-server: corpus replayed, no failure in $(SERVER_FUZZ_CI_SECONDS) s of fuzzing"

fuzz-server: $(BUILD)/fuzz_request
	mkdir -p $(BUILD)/fuzz-server-corpus
	cd $(BUILD) && $(FUZZ_ENV) ./fuzz_request -max_total_time=$(FUZZ_SECONDS) fuzz-server-corpus ../Tests/Fuzz/Server/corpus

fuzz-server-merge: $(BUILD)/fuzz_request
	$(FUZZ_ENV) $(BUILD)/fuzz_request -merge=1 Tests/Fuzz/Server/corpus $(BUILD)/fuzz-server-corpus

# A package that depends on TTLKV alone compiles no SwiftNIO module: looked
# for in test-outside's build of Tests/Outside.
test-server-isolation: test-outside
	@modules="$$(find -L $(BUILD)/outside/debug/ -name '*.swiftmodule' | sed 's|.*/||' | sort -u)"; \
	echo "$$modules" | grep -q '^TTLKV.swiftmodule$$' || { echo "test-server-isolation: no TTLKV module in $(BUILD)/outside" >&2; exit 1; }; \
	if echo "$$modules" | grep NIO; then echo "test-server-isolation: a TTLKV-only package compiled SwiftNIO" >&2; exit 1; fi; \
	echo "test-server-isolation: a package depending on TTLKV alone compiles no SwiftNIO module"

# redis-benchmark against ttlkv-server and redis-server, interleaved rounds
# (Benchmarks/Server/bench_server.py). BENCH_SERVER_ARGS="--rounds 1 --scale 0.1"
# for a quick look.
BENCH_SERVER_ARGS ?=
bench-server: deps
	$(SWIFT) build -c release --product ttlkv-server
	$(PYTHON) Benchmarks/Server/bench_server.py --server .build/release/ttlkv-server --output docs/bench $(BENCH_SERVER_ARGS)
