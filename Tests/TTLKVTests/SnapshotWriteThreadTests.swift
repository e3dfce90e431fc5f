import Foundation
import Testing
@testable import TTLKV

#if canImport(Glibc)
import Glibc
#endif

/// The thread that writes a snapshot's chunks: every byte lands in order,
/// chunks larger than a buffer included; a failed write is reported, never
/// lost; stopping it early neither hangs nor writes what was dropped.
@Suite struct SnapshotWriteThreadTests {
    /// A new empty file open for writing (the caller closes and removes it).
    private func temporaryFile() throws -> (path: String, descriptor: Int32) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ttlkv-write-thread-\(UUID().uuidString)").path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        try #require(descriptor >= 0)
        return (path, descriptor)
    }

    /// Chunk i: `size` bytes of a pattern that tells chunks and offsets apart.
    private func chunk(_ i: Int, size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) }
    }

    @Test func everyChunkLandsInOrder() throws {
        let (path, descriptor) = try temporaryFile()
        defer { close(descriptor); unlink(path) }
        let writer = try #require(SnapshotWriteThread(descriptor: descriptor, bufferCapacity: 4096))
        var expected: [UInt8] = []
        // Sizes around the buffer's, and past it (queued in pieces).
        for i in 0..<300 {
            let bytes = chunk(i, size: [0, 1, 100, 4095, 4096, 4097, 20_000][i % 7])
            expected += bytes
            #expect(bytes.withUnsafeBytes { writer.submit($0) } == 0)
        }
        #expect(writer.finish() == 0)
        weak let stopped = writer
        _ = consume writer
        #expect(stopped == nil, "the stopped thread still holds its writer")
        let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(written.count == expected.count)
        let firstDifference = written.indices.first { $0 >= expected.count || written[$0] != expected[$0] }
        #expect(firstDifference == nil, "the file differs from byte \(firstDifference ?? 0) on")
    }

    /// A descriptor that refuses writes: the failure comes back from a
    /// later hand-over or from the finish, and every call after it returns
    /// it at once.
    @Test func aFailedWriteIsReported() throws {
        let descriptor = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let writer = try #require(SnapshotWriteThread(descriptor: descriptor, bufferCapacity: 4096))
        var failures: [Int32] = []
        for i in 0..<10 {
            failures.append(chunk(i, size: [1000, 10_000][i % 2]).withUnsafeBytes { writer.submit($0) })
        }
        failures.append(writer.finish())
        #expect(failures.last == EBADF)
        #expect(failures.contains(EBADF))
        #expect(failures.allSatisfy { $0 == 0 || $0 == EBADF })
        // Once failed, failed: no write is tried again.
        if let first = failures.firstIndex(of: EBADF) {
            #expect(failures[first...].allSatisfy { $0 == EBADF })
        }
    }

    /// A stop without a finish (a cancelled or failed snapshot) returns,
    /// and the stopped thread takes nothing more.
    @Test(.timeLimit(.minutes(1))) func stoppingEarlyReturns() throws {
        let (path, descriptor) = try temporaryFile()
        defer { close(descriptor); unlink(path) }
        let writer = try #require(SnapshotWriteThread(descriptor: descriptor, bufferCapacity: 1 << 16))
        for i in 0..<2 {
            _ = chunk(i, size: 1 << 16).withUnsafeBytes { writer.submit($0) }
        }
        writer.stop()
        writer.stop()
        #expect(chunk(2, size: 10).withUnsafeBytes { writer.submit($0) } == ECANCELED)
        #expect(chunk(3, size: 1 << 17).withUnsafeBytes { writer.submit($0) } == ECANCELED)
        #expect(writer.finish() == ECANCELED)
        var status = stat()
        #expect(fstat(descriptor, &status) == 0)
        #expect(status.st_size <= 2 << 16)
    }
}
