// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "TTLKV",
    products: [
        .library(name: "TTLKV", targets: ["TTLKV"]),
        .library(name: "CTTLKV", targets: ["CTTLKV"]),
        // The Redis-protocol server: its own room, so that a package that
        // depends on TTLKV alone never builds SwiftNIO.
        .executable(name: "ttlkv-server", targets: ["ttlkv-server"]),
    ],
    dependencies: [
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // `make docs`: the DocC catalog in Sources/TTLKV/TTLKV.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // The server only.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        // The server: RESP codec, command handlers, connections (TTLKVServer),
        // and the executable that configures and runs it.
        .target(
            name: "TTLKVServer",
            dependencies: [
                "TTLKV",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "ttlkv-server",
            dependencies: [
                "TTLKVServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TTLKVServerTests",
            dependencies: [
                "TTLKVServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
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
