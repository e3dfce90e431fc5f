# The Redis-protocol server, ttlkv-server: its integration suites (redis-py,
# redis-cli, the differential test against redis-server, twemproxy, abuse,
# lifecycle), which start their servers on free loopback ports themselves;
# its request parser under libFuzzer; the check that a package depending on
# TTLKV alone never builds SwiftNIO; and its benchmark against redis-server.
# Needs redis-server, redis-tools, nutcracker and the Python redis and pytest
# packages (.ci/run installs them).

.PHONY: test-server test-fuzz-server fuzz-server fuzz-server-merge test-server-isolation bench-server

SWIFTC ?= swiftc
PYTEST ?= $(PYTHON) -m pytest
SERVER_PARSER := Sources/TTLKVServer/Protocol/RequestParser.swift Sources/TTLKVServer/Protocol/InlineArguments.swift
SERVER_FUZZ_CI_SECONDS ?= 30
# The Swift runtime's crash reporter trips AddressSanitizer: libFuzzer reports.
FUZZ_ENV := SWIFT_BACKTRACE=enable=no

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
# (Benchmarks/Server/bench_server.py), into build/bench-server. BENCH_SERVER_ARGS="--rounds 1 --scale 0.1"
# for a quick look.
BENCH_SERVER_ARGS ?=
bench-server: deps
	$(SWIFT) build -c release --product ttlkv-server
	$(PYTHON) Benchmarks/Server/bench_server.py --server .build/release/ttlkv-server --output $(BUILD)/bench-server $(BENCH_SERVER_ARGS)
