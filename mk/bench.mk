# The benchmark (Benchmarks/, its own package): the comparison driver, its
# quick run and report check, the soak, and the micro-benchmarks.

.PHONY: bench bench-driver bench-quick test-bench bench-deps soak microbench test-eviction-sim

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

# The same scenarios at small sizes (about two minutes), into build/bench-quick.
BENCH_QUICK_ARGS := --keys 200000 --duration 0.5 --warmup 0.2 --rounds 3 --storm-keys 20000 \
                    --churn-keys 10000 --churn-rate 20000 --churn-replacements 5 --quiet 0.5 \
                    --trace-requests 600000
bench-quick: deps bench-driver
	@mkdir -p $(BUILD)/bench-quick
	$(BENCH_DRIVER) compare $(BENCH_QUICK_ARGS) --output $(BUILD)/bench-quick > $(BUILD)/bench-quick/compare-output.txt
	@sed -n '1,7p' $(BUILD)/bench-quick/compare-output.txt

# The driver's unit tests, then bench-quick, whose every table, results.json
# and report are checked; the report must render in headless Chromium
# (installed with apt-get when missing), and the eviction scenario's chart
# must carry libCacheSim's curves (the PyPI package libcachesim, installed
# with pip when missing). Speed is not asserted.
test-bench: deps bench-deps bench-quick
	cd Benchmarks && $(SWIFT) test
	$(PYTHON) Benchmarks/Tests/report/check_report.py $(BUILD)/bench-quick

bench-deps:
	@$(PYTHON) -c "import libcachesim" 2>/dev/null || { \
		echo "bench-deps: installing libcachesim"; \
		$(PYTHON) -m pip install -q libcachesim 2>/dev/null || $(PYTHON) -m pip install -q --break-system-packages libcachesim || \
		{ echo "bench-deps: could not install libcachesim; run: pip install libcachesim" >&2; exit 1; }; }
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

# The eviction policy's simulator (Benchmarks/Eviction): its invariants, in
# a few seconds. `python3 Benchmarks/Eviction/table.py` regenerates the miss
# ratio table beside libcachesim's policies (pip install libcachesim).
test-eviction-sim:
	$(PYTHON) -m pytest -q -p no:cacheprovider Benchmarks/Eviction/test_sim.py
