// swift-tools-version:6.1
import PackageDescription

// ttlkv-server, the Redis-protocol server over the TTLKV store, in a package
// of its own: a package that depends on TTLKV resolves none of the server's
// dependencies (SwiftNIO, swift-argument-parser, swift-log).
let package = Package(
    name: "TTLKVServer",
    products: [
        .library(name: "TTLKVServer", targets: ["TTLKVServer"]),
        .executable(name: "ttlkv-server", targets: ["ttlkv-server"]),
    ],
    dependencies: [
        .package(name: "TTLKV", path: ".."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The server: RESP codec, command handlers, connections.
        .target(
            name: "TTLKVServer",
            dependencies: [
                .product(name: "TTLKV", package: "TTLKV"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The executable that configures and runs it.
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
                .product(name: "TTLKV", package: "TTLKV"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
