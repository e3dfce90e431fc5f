# TTLKV. Two commands for testing:
#   make check   for every edit: the C suites and `swift test` (a few minutes
#                with warm build folders)
#   make test    everything, as CI runs it (.ci/run): the C suites under the
#                sanitizers, fuzzing, the Swift suites under ThreadSanitizer,
#                a package outside this one, the docs, the server's unit and
#                integration suites, the benchmark's quick run
# and `make lib` (build/libttlkv.so, .a), `make install`, `make bench`.
#
# Each room's rules live in mk/: core.mk (the C library and its tests),
# swift.mk (the Swift package), server.mk (ttlkv-server, Server/), bench.mk
# (the benchmark), docs.mk (the README and docs/). Everything a build,
# test or benchmark writes goes to build/ or a .build folder, never into
# tracked files.

CC      ?= cc
SAN_CC  ?= $(CC)
PYTHON  ?= python3
SWIFT   ?= swift
PREFIX  ?= /usr/local
BUILD   := build

.PHONY: all check test fuzz clean

all: lib

include mk/core.mk mk/swift.mk mk/server.mk mk/bench.mk mk/docs.mk

check: test-docs test-c test-swift
	@echo "make check: passed"

test: test-docs test-c test-asan test-tsan test-fuzz test-python test-dlclose test-example test-capacity \
      test-swift test-swift-tsan test-outside docs \
      test-server-unit test-server-tsan test-server test-fuzz-server test-fuzz-rdb test-bench test-eviction-sim
	@echo "make test: every suite passed"

# Explores with every fuzzer for FUZZ_SECONDS each.
fuzz: fuzz-core fuzz-server fuzz-rdb

clean:
	rm -rf $(BUILD)
