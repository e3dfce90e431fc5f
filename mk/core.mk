# The C core (libttlkv): the library, its install, its C suites plain and
# under the sanitizers, the API fuzzer, and the tests that use the library
# from outside (capacity, Python, dlclose, the example, the load test).

.PHONY: deps lib install test-floors test-c test-asan test-tsan test-fuzz fuzz-core fuzz-merge test-capacity \
        test-python test-dlclose test-example loadtest

VERSION := 0.2.0
# The soname's number: see "Binary compatibility" in ttlkv.h.
SOVERSION := 1

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

C_SUITES    := unit faults oom_sweep hostile stress threads churn clock batch events update reuse stall memory budget transaction snapshot slab
ASAN_SUITES := unit faults oom_sweep stress threads churn batch events update stall memory budget transaction snapshot
TSAN_SUITES := stress threads events update reuse stall memory churn budget transaction snapshot slab

# Installs Concurrency Kit, xxHash and ISA-L headers with apt-get when they are missing.
deps:
	@missing=""; \
	for pair in ck_hs.h:libck-dev xxhash.h:libxxhash-dev isa-l/crc64.h:libisal-dev; do \
		echo "#include <$${pair%%:*}>" | $(CC) -E -x c - >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			sudo=""; [ "$$(id -u)" -ne 0 ] && sudo="sudo"; \
			echo "deps: installing$$missing"; \
			$$sudo apt-get update -qq && $$sudo apt-get install -y -qq$$missing || \
			{ echo "deps: could not install$$missing; run: sudo apt-get install$$missing" >&2; exit 1; }; \
		else \
			echo "deps: missing$$missing: install Concurrency Kit 0.7.1 (libck-dev), xxHash (libxxhash-dev) and ISA-L (libisal-dev)" >&2; \
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

# The core's floors (internal.h): no file calls a file above it, and no
# two files reach each other (Tests/C/floors.py).
test-floors:
	@mkdir -p $(BUILD) && $(PYTHON) Tests/C/floors.py $(SRC_DIR) > $(BUILD)/floors.txt || { cat $(BUILD)/floors.txt; exit 1; }
	@echo "test-floors: the C core's calls follow its floors"

test-c: deps test-floors $(C_SUITES:%=$(BUILD)/test/%)
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
fuzz-core: deps $(BUILD)/fuzz_api
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

# The C load test of the issue: 10M keys, 2 threads, 90% get / 10% put.
loadtest: deps $(BUILD)/loadtest
	$(BUILD)/loadtest

$(BUILD)/loadtest: examples/loadtest.c examples/bench_common.h $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -g -pthread -I$(SRC_DIR)/include $< $(SRCS) -o $@ $(LDLIBS)

# The hot path against a minimal ck_hs design (issue 19): build/hotpath.
$(BUILD)/hotpath: examples/hotpath.c examples/bench_common.h $(SRCS) $(HDRS)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -g -pthread -I$(SRC_DIR)/include $< $(SRCS) -o $@ $(LDLIBS)
