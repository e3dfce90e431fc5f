// swift-tools-version:6.1
import PackageDescription

// A package outside TTLKV that depends on it by path, the way a user's does:
// `make test-outside` builds it and fails on any warning.
let package = Package(
    name: "SessionCache",
    dependencies: [
        .package(name: "TTLKV", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "SessionCache",
            dependencies: [.product(name: "TTLKV", package: "TTLKV")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
