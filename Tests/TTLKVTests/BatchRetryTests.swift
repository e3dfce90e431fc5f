import Testing
@testable import TTLKV

/// Which items of a batch's chunk, refused while the records of evictions
/// filled their room, a batched set writes again after the drain: a refused
/// item whose key a later item of the chunk wrote is not (the single calls
/// would have left the later value), one whose later twin also failed is.
@Suite struct BatchRetryTests {
    private func retried(_ keys: [String], refused: [Int], failed: Set<Int>) -> [Int] {
        let bytes = keys.map { Array($0.utf8) }
        let buffers = bytes.map { $0.withUnsafeBytes { UnsafeRawBufferPointer(start: $0.baseAddress, count: $0.count) } }
        // The arrays outlive the call: `bytes` is alive until the function returns.
        return withExtendedLifetime(bytes) {
            buffers.withUnsafeBufferPointer { _FrontEnd.itemsToRetry(refused, failed: failed, keys: $0) }
        }
    }

    @Test func aRefusedItemOverwrittenLaterInTheChunkIsNotWrittenAgain() {
        #expect(retried(["k", "k"], refused: [0], failed: [0]) == [])
        #expect(retried(["k", "j", "k"], refused: [0, 1], failed: [0, 1]) == [1])
    }

    @Test func aRefusedItemWhoseLaterTwinFailedTooIsWrittenAgain() {
        #expect(retried(["k", "k"], refused: [0, 1], failed: [0, 1]) == [0, 1])
        #expect(retried(["k", "k"], refused: [0], failed: [0, 1]) == [0])
    }

    @Test func anItemAfterItsTwinIsWrittenAgain() {
        #expect(retried(["k", "k"], refused: [1], failed: [1]) == [1])
        #expect(retried(["a", "b", "c"], refused: [0, 2], failed: [0, 2]) == [0, 2])
    }
}
