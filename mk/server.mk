# The Redis-protocol server, ttlkv-server: a package of its own (Server/), so
# that a package depending on TTLKV resolves none of its dependencies. Its
# Swift unit tests; its integration suites (redis-py, redis-cli, the
# differential test against redis-server, twemproxy, abuse, adversarial,
# lifecycle), which start their servers on free loopback ports themselves;
# its request parser under libFuzzer; and its benchmark against
# redis-server. Needs redis-server, redis-tools, nutcracker and the Python
# redis and pytest packages (.ci/run installs them).

.PHONY: test-server test-server-unit test-server-tsan test-fuzz-server fuzz-server fuzz-server-merge bench-server

SWIFTC ?= swiftc
PYTEST ?= $(PYTHON) -m pytest
SERVER_DIR := Server
SERVER_PARSER := $(SERVER_DIR)/Sources/TTLKVServer/Protocol/RequestParser.swift \
                 $(SERVER_DIR)/Sources/TTLKVServer/Protocol/InlineArguments.swift
SERVER_FUZZ_CI_SECONDS ?= 30
# The Swift runtime's crash reporter trips AddressSanitizer: libFuzzer reports.
FUZZ_ENV := SWIFT_BACKTRACE=enable=no

test-server-unit: deps
	cd $(SERVER_DIR) && $(SWIFT) test

# The pub/sub suites (publishers on many threads, the expiry worker among
# them) under ThreadSanitizer; the server's locks are annotated for it
# (Support/Locked.swift).
test-server-tsan: deps
	cd $(SERVER_DIR) && TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan \
	    --filter "PubSubTests|PubSubStressTests"

test-server: deps
	cd $(SERVER_DIR) && $(SWIFT) build --product ttlkv-server
	TTLKV_SERVER=$(CURDIR)/$(SERVER_DIR)/.build/debug/ttlkv-server \
	    $(PYTEST) -q -p no:cacheprovider $(SERVER_DIR)/Tests/Integration

# The request parser alone, under libFuzzer and AddressSanitizer
# (Server/Tests/Fuzz/fuzz_request.swift says what it checks).
$(BUILD)/fuzz_request: $(SERVER_DIR)/Tests/Fuzz/fuzz_request.swift $(SERVER_PARSER)
	@mkdir -p $(@D)
	$(SWIFTC) -sanitize=fuzzer,address -use-ld=lld -parse-as-library -O -g $^ -o $@

SERVER_CORPUS := ../$(SERVER_DIR)/Tests/Fuzz/corpus
test-fuzz-server: $(BUILD)/fuzz_request
	rm -rf $(BUILD)/fuzz-server-ci && mkdir -p $(BUILD)/fuzz-server-ci
	cd $(BUILD) && { $(FUZZ_ENV) ./fuzz_request -runs=0 $(SERVER_CORPUS) > fuzz-server-replay.log 2>&1 || { tail -40 fuzz-server-replay.log; exit 1; }; }
	cd $(BUILD) && { $(FUZZ_ENV) ./fuzz_request -max_total_time=$(SERVER_FUZZ_CI_SECONDS) -print_final_stats=1 fuzz-server-ci \
		$(SERVER_CORPUS) > fuzz-server-ci.log 2>&1 || { tail -40 fuzz-server-ci.log; exit 1; }; }
	@grep -E "^stat::number_of_executed_units" $(BUILD)/fuzz-server-ci.log; echo "fuzz-server: corpus replayed, no failure in $(SERVER_FUZZ_CI_SECONDS) s of fuzzing"

fuzz-server: $(BUILD)/fuzz_request
	mkdir -p $(BUILD)/fuzz-server-corpus
	cd $(BUILD) && $(FUZZ_ENV) ./fuzz_request -max_total_time=$(FUZZ_SECONDS) fuzz-server-corpus $(SERVER_CORPUS)

fuzz-server-merge: $(BUILD)/fuzz_request
	$(FUZZ_ENV) $(BUILD)/fuzz_request -merge=1 $(SERVER_DIR)/Tests/Fuzz/corpus $(BUILD)/fuzz-server-corpus

# redis-benchmark against ttlkv-server and redis-server, interleaved rounds
# (Server/Benchmarks/bench_server.py), into build/bench-server.
# BENCH_SERVER_ARGS="--rounds 1 --scale 0.1" for a quick look.
BENCH_SERVER_ARGS ?=
bench-server: deps
	cd $(SERVER_DIR) && $(SWIFT) build -c release --product ttlkv-server
	$(PYTHON) $(SERVER_DIR)/Benchmarks/bench_server.py --server $(SERVER_DIR)/.build/release/ttlkv-server \
	    --output $(BUILD)/bench-server $(BENCH_SERVER_ARGS)
