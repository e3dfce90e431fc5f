/*
 The bytes of many keys (or values) at once, without copying them.

 A batch hands the store the bytes of every key of a chunk together, but
 `StoreBytes` lends its bytes only inside `withStoreBytes`'s closure. So the
 chunk is pinned by recursion: the first element's closure pins the second,
 and so on; inside the innermost closure every buffer is valid, and the
 batch runs there. The depth is the chunk size, `batchChunk` (64, the C
 core's chunk for batched writes), so a batch of any size is taken a chunk
 at a time, and the stack holds at most 64 nested frames per pinned
 sequence (128 for a write's keys and values).
 */

/// Keys a batch hands to the store together: a chunk of a longer batch.
@usableFromInline let batchChunk = 64

/// Pins up to `count` elements of `elements` (see the top of this file)
/// into `pinned[filled...]`, then calls `body` with how many are pinned
/// in all: fewer than `count` only when `elements` ran out.
@inlinable
func withPinnedBytes<Elements: IteratorProtocol, Result>(
    of elements: inout Elements, count: Int, into pinned: UnsafeMutablePointer<UnsafeRawBufferPointer>,
    filled: Int = 0, _ body: (_ pinned: Int) throws -> Result
) rethrows -> Result where Elements.Element: StoreBytes {
    guard filled < count, let element = elements.next() else { return try body(filled) }
    return try element.withStoreBytes { bytes in
        // Valid while this closure runs, which is until `body` returns.
        (pinned + filled).initialize(to: bytes)
        return try withPinnedBytes(of: &elements, count: count, into: pinned, filled: filled + 1, body)
    }
}

/// Calls `body` with each chunk of up to ``batchChunk`` pinned elements of
/// `elements` and the offset of the chunk's first element, until the
/// elements run out or `body` returns false.
@inlinable
func forEachPinnedChunk<Elements: Sequence>(
    of elements: Elements,
    _ body: (_ base: Int, _ chunk: UnsafeBufferPointer<UnsafeRawBufferPointer>) throws -> Bool
) rethrows where Elements.Element: StoreBytes {
    try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: batchChunk) { pinned in
        var iterator = elements.makeIterator()
        var base = 0
        var more = true
        while more {
            let count = try withPinnedBytes(of: &iterator, count: batchChunk, into: pinned.baseAddress!) { count in
                guard count > 0 else { return 0 }
                more = try body(base, UnsafeBufferPointer(start: pinned.baseAddress, count: count))
                return count
            }
            base += count
            more = more && count == batchChunk
        }
    }
}
