// swift-tools-version:6.1
import PackageDescription
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

let package = Package(
    name: "TTLKV",
    products: [
        .library(name: "TTLKV", targets: ["TTLKV"]),
        .library(name: "CTTLKV", targets: ["CTTLKV"]),
    ],
    dependencies: [
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Concurrency Kit from the system (Debian: libck-dev), and xxHash's
        // header (libxxhash-dev) for the C core. No pkgConfig: Debian's ck.pc
        // adds -D__x86_64__ to the flags, which SwiftPM refuses with a warning
        // in every package that depends on this one. The module map links ck,
        // and the headers are on the default search path.
        .systemLibrary(
            name: "CConcurrencyKit",
            path: "Sources/CConcurrencyKit",
            providers: [.apt(["libck-dev", "libxxhash-dev"])]
        ),
        // Intel's ISA-L from the system (Debian: libisal-dev): the snapshot
        // codec's CRC-64 (Sources/TTLKV/Snapshot/CRC64.swift).
        .systemLibrary(
            name: "CISAL",
            path: "Sources/CISAL",
            providers: [.apt(["libisal-dev"])]
        ),
        // The C core: the same sources `make lib` builds into libttlkv.
        .target(
            name: "CTTLKV",
            dependencies: ["CConcurrencyKit"],
            path: "CSources/ttlkv",
            exclude: ["ttlkv_testing.h"],
            publicHeadersPath: "include",
            // The module map's `link "ck"` autolinks only into Swift code
            // that imports CConcurrencyKit; the C core needs it said here.
            linkerSettings: [.linkedLibrary("ck")]
        ),
        // The Swift API: Store (C core), NativeStore, timing wheel, worker.
        .target(
            name: "TTLKV",
            dependencies: [
                "CTTLKV",
                "CISAL",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "TTLKVTests",
            dependencies: ["TTLKV"]
        ),
        .testTarget(
            name: "CTTLKVTests",
            dependencies: ["CTTLKV"],
            path: "Tests/CTTLKVTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)

// `make docs` (the DocC catalog in Sources/TTLKV/TTLKV.docc) sets
// TTLKV_DOCS, so that the plugin is resolved for it and not for packages
// that depend on this one. The server is its own package (Server/), and so
// is the benchmark (Benchmarks/).
if ProcessInfo.processInfo.environment["TTLKV_DOCS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}
