// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "TTLKV",
    products: [
        .library(name: "CTTLKV", targets: ["CTTLKV"]),
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
        .testTarget(
            name: "CTTLKVTests",
            dependencies: ["CTTLKV"],
            path: "Tests/CTTLKVTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
