# The Redis-protocol server, ttlkv-server: a package of its own (Server/), so
# that a package depending on TTLKV resolves none of its dependencies. Its
# Swift unit tests; its integration suites (redis-py, redis-cli, the
# differential test against redis-server, twemproxy, abuse, adversarial,
# lifecycle), which start their servers on free loopback ports themselves;
# its request parser and the snapshot loader under libFuzzer; and its
# benchmark against redis-server. Needs redis-server, redis-tools, nutcracker and the Python
# redis and pytest packages (.ci/run installs them).

.PHONY: test-server test-server-unit test-server-tsan test-fuzz-server fuzz-server fuzz-server-merge test-fuzz-rdb \
        fuzz-rdb fuzz-rdb-merge bench-server

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

# Two harnesses, each compiled alone with its sources under libFuzzer and
# AddressSanitizer: the request parser (Server/Tests/Fuzz/fuzz_request.swift)
# and the snapshot loader, RDBDecoder and DumpPayload of Sources/TTLKV
# (Server/Tests/Fuzz/fuzz_rdb.swift); each file says what it checks.
SNAPSHOT_CODEC := $(addprefix Sources/TTLKV/Snapshot/,RDBDecoder.swift RDBEncoder.swift RDBFormat.swift \
                    SnapshotError.swift CRC64.swift LZF.swift DumpPayload.swift ByteSink.swift) \
                  Sources/TTLKV/Support/PosixThreads.swift
$(BUILD)/fuzz_request: $(SERVER_DIR)/Tests/Fuzz/fuzz_request.swift $(SERVER_PARSER)
$(BUILD)/fuzz_rdb: $(SERVER_DIR)/Tests/Fuzz/fuzz_rdb.swift $(SNAPSHOT_CODEC)
# CRC64.swift imports ISA-L through the module map, which links it.
$(BUILD)/fuzz_rdb: FUZZ_MODULES := -I Sources/CISAL
$(BUILD)/fuzz_request $(BUILD)/fuzz_rdb:
	@mkdir -p $(@D)
	$(SWIFTC) -sanitize=fuzzer,address -use-ld=lld -parse-as-library -O -g $(FUZZ_MODULES) $^ -o $@

# $(call fuzz-ci,harness,corpus,name): replays the committed corpus, then
# fuzzes for SERVER_FUZZ_CI_SECONDS (new inputs go to build/name-ci).
define fuzz-ci
rm -rf $(BUILD)/$(3)-ci && mkdir -p $(BUILD)/$(3)-ci
cd $(BUILD) && { $(FUZZ_ENV) ./$(1) -runs=0 $(2) > $(3)-replay.log 2>&1 || { tail -40 $(3)-replay.log; exit 1; }; }
cd $(BUILD) && { $(FUZZ_ENV) ./$(1) -max_total_time=$(SERVER_FUZZ_CI_SECONDS) -print_final_stats=1 $(3)-ci \
	$(2) > $(3)-ci.log 2>&1 || { tail -40 $(3)-ci.log; exit 1; }; }
@grep -E "^stat::number_of_executed_units" $(BUILD)/$(3)-ci.log; echo "$(3): corpus replayed, no failure in $(SERVER_FUZZ_CI_SECONDS) s of fuzzing"
endef

# $(call fuzz-explore,harness,corpus,name): explores for FUZZ_SECONDS into
# build/name-corpus; fuzz-merge folds new finds into the committed corpus.
define fuzz-explore
mkdir -p $(BUILD)/$(3)-corpus
cd $(BUILD) && $(FUZZ_ENV) ./$(1) -max_total_time=$(FUZZ_SECONDS) $(3)-corpus $(2)
endef

define fuzz-merge
$(FUZZ_ENV) $(BUILD)/$(1) -merge=1 $(patsubst ../%,%,$(2)) $(BUILD)/$(3)-corpus
endef

SERVER_CORPUS := ../$(SERVER_DIR)/Tests/Fuzz/corpus
RDB_CORPUS := ../$(SERVER_DIR)/Tests/Fuzz/rdb-corpus

test-fuzz-server: $(BUILD)/fuzz_request
	$(call fuzz-ci,fuzz_request,$(SERVER_CORPUS),fuzz-server)

test-fuzz-rdb: $(BUILD)/fuzz_rdb
	$(call fuzz-ci,fuzz_rdb,$(RDB_CORPUS),fuzz-rdb)

fuzz-server: $(BUILD)/fuzz_request
	$(call fuzz-explore,fuzz_request,$(SERVER_CORPUS),fuzz-server)

fuzz-rdb: $(BUILD)/fuzz_rdb
	$(call fuzz-explore,fuzz_rdb,$(RDB_CORPUS),fuzz-rdb)

fuzz-server-merge: $(BUILD)/fuzz_request
	$(call fuzz-merge,fuzz_request,$(SERVER_CORPUS),fuzz-server)

fuzz-rdb-merge: $(BUILD)/fuzz_rdb
	$(call fuzz-merge,fuzz_rdb,$(RDB_CORPUS),fuzz-rdb)

# redis-benchmark against ttlkv-server and redis-server, interleaved rounds
# (Server/Benchmarks/bench_server.py), and snapshots beside redis-server's
# (bench_snapshot.py: BGSAVE time, memory and GET latency during it, restart
# time; 10M keys), KEYS over 10M keys and the rate-limiter transaction
# (bench_commands.py), and a cache-aside replay beside redis-server at one
# maxmemory (bench_eviction.py; --eviction-budget, --eviction-keys,
# --eviction-requests), into build/bench-server.
# BENCH_SERVER_ARGS="--rounds 1 --scale 0.1 --snapshot-keys 1000000
# --keys-keys 1000000" for a quick look; "--sections snapshots" (or
# throughput, pubsub, keys, transactions, eviction) for one part.
BENCH_SERVER_ARGS ?=
bench-server: deps
	cd $(SERVER_DIR) && $(SWIFT) build -c release --product ttlkv-server
	$(PYTHON) $(SERVER_DIR)/Benchmarks/bench_server.py --server $(SERVER_DIR)/.build/release/ttlkv-server \
	    --output $(BUILD)/bench-server $(BENCH_SERVER_ARGS)
