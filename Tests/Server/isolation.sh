#!/usr/bin/env bash
# A package that depends on the TTLKV library alone must build without
# SwiftNIO (the server is its own room): build one in a scratch folder and
# look for any NIO module among what was compiled.
set -euo pipefail
swift="${1:-swift}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/build/isolation"
rm -rf "$dir/Sources" && mkdir -p "$dir/Sources/App"
cat > "$dir/Package.swift" <<MANIFEST
// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "App",
    dependencies: [.package(name: "TTLKV", path: "$root")],
    targets: [.executableTarget(name: "App", dependencies: [.product(name: "TTLKV", package: "TTLKV")])]
)
MANIFEST
cat > "$dir/Sources/App/main.swift" <<'MAIN'
import TTLKV

let store = try Store(capacity: 16)
try store.set("v", forKey: "k", ttl: nil)
print(try store.string(forKey: "k") ?? "missing")
MAIN
(cd "$dir" && "$swift" build --scratch-path .build-app -q)
[ "$("$dir/.build-app/debug/App")" = "v" ]
compiled="$(find -L "$dir/.build-app/debug/" -name '*.swiftmodule' | sed 's|.*/||' | sort -u | tr '\n' ' ')"
if ! echo "$compiled" | grep -q 'TTLKV.swiftmodule'; then
	echo "isolation: found no compiled TTLKV module; the check would prove nothing" >&2
	exit 1
fi
if echo "$compiled" | grep -q 'NIO'; then
	echo "isolation: a TTLKV-only package compiled SwiftNIO: $compiled" >&2
	exit 1
fi
echo "isolation: a package depending on TTLKV alone builds without SwiftNIO (compiled: $compiled)"
