// swift-tools-version:6.1
import PackageDescription

// The benchmarks live in their own package so that users of TTLKV do not
// resolve benchmark-only dependencies.
let package = Package(
    name: "TTLKVBenchmarks",
    dependencies: [
        .package(name: "TTLKV", path: ".."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The load driver: `make bench` runs `ttlkv-bench compare`.
        .executableTarget(
            name: "ttlkv-bench",
            dependencies: [
                .product(name: "TTLKV", package: "TTLKV"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Sources/ttlkv-bench"
        ),
        // The driver's own logic: comparisons and calls, the churn's
        // timetable, the pipe protocol, the long-run verdict.
        .testTarget(
            name: "TTLKVBenchTests",
            dependencies: [
                "ttlkv-bench",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Tests/TTLKVBenchTests"
        ),
        // Micro-benchmarks: `make microbench` runs `swift package benchmark`.
        .executableTarget(
            name: "TTLKVMicro",
            dependencies: [
                .product(name: "TTLKV", package: "TTLKV"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TTLKVMicro",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
