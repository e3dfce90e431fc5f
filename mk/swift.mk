# The Swift package: its suites (and the threaded ones again under
# ThreadSanitizer), a package outside this one that depends on it, and the
# DocC catalog.

.PHONY: test-swift test-swift-tsan test-outside docs

# The Swift suites, one after another: ExpiryTests times the worker on the
# real clock, which must not compete for 2 cores with the stress suites.
test-swift: deps
	$(SWIFT) test --no-parallel

# The suites that run threads against each other, again under TSan, which
# stops at its first report.
test-swift-tsan: deps
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --sanitize=thread --scratch-path .build-tsan \
	    --filter "ConcurrencyStressTests|StoreAPITests|StoreBatchTests|ExpiryEventTests|Snapshot"

# A package outside this one that depends on TTLKV by path, as a user's does
# (Tests/Outside). Built from scratch, it must not print a single warning;
# its program is the README's Swift example (checked to be the same text),
# and it must run. It must resolve only what the library needs: the
# histogram package (its statistics' type) and that package's own
# dependency, no server or tool package.
OUTSIDE_DEPENDENCIES := hdrhistogram-swift swift-numerics
OUTSIDE_MAIN := Tests/Outside/Sources/SessionCache/main.swift
test-outside: deps
	@mkdir -p $(BUILD) && rm -rf $(BUILD)/outside Tests/Outside/Package.resolved
	@awk '/^<!-- $(subst /,\/,$(OUTSIDE_MAIN)) -->/ { want = 1; next } \
	     want && /^```swift/ { inside = 1; next } inside && /^```/ { exit } inside' README.md \
	     | diff -u - $(OUTSIDE_MAIN) || { echo "test-outside: the README's example differs from $(OUTSIDE_MAIN)" >&2; exit 1; }
	cd Tests/Outside && $(SWIFT) build --scratch-path ../../$(BUILD)/outside > ../../$(BUILD)/outside.log 2>&1 \
	    || { cat ../../$(BUILD)/outside.log; exit 1; }
	@if grep -E "warning:" $(BUILD)/outside.log; then echo "test-outside: warnings in a dependent package" >&2; exit 1; fi
	$(BUILD)/outside/debug/SessionCache
	@resolved="$$(sed -n 's/.*"identity" : "\(.*\)".*/\1/p' Tests/Outside/Package.resolved | sort | tr '\n' ' ')"; \
	if [ "$$resolved" != "$(OUTSIDE_DEPENDENCIES) " ]; then \
		echo "test-outside: a package depending on TTLKV resolved $$resolved(expected $(OUTSIDE_DEPENDENCIES))" >&2; exit 1; fi; \
	echo "test-outside: a dependent builds without a warning and resolves only $(OUTSIDE_DEPENDENCIES)"

# The DocC catalog (Sources/TTLKV/TTLKV.docc) as a static site in
# $(BUILD)/docs; fails on any documentation warning.
docs: deps
	TTLKV_DOCS=1 $(SWIFT) package --allow-writing-to-directory $(BUILD)/docs generate-documentation --target TTLKV \
	    --warnings-as-errors --transform-for-static-hosting --output-path $(BUILD)/docs
