// swift-tools-version:6.1
import PackageDescription

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
        // Concurrency Kit from the system (Debian: libck-dev).
        .systemLibrary(
            name: "CConcurrencyKit",
            path: "Sources/CConcurrencyKit",
            pkgConfig: "ck",
            providers: [.apt(["libck-dev"])]
        ),
        // The C core: the same sources `make lib` builds into libttlkv.
        .target(
            name: "CTTLKV",
            dependencies: ["CConcurrencyKit"],
            path: "CSources/ttlkv",
            exclude: ["ttlkv_testing.h"],
            publicHeadersPath: "include"
        ),
        // The Swift API: Store (C core), NativeStore, timing wheel, worker.
        .target(
            name: "TTLKV",
            dependencies: [
                "CTTLKV",
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
