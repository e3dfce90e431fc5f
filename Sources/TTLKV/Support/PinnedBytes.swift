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

/// Pins up to `count` elements of `elements` from `index` on (see the top
/// of this file) into `pinned[filled...]`, moving `index` past them, then
/// calls `body` with how many are pinned in all: fewer than `count` only
/// when `elements` ran out. Elements are used in place, through the
/// subscript, not copied out (an array element would be retained and
/// released for it).
@inlinable
func withPinnedBytes<Elements: Collection, Result>(
    of elements: Elements, from index: inout Elements.Index, count: Int,
    into pinned: UnsafeMutablePointer<UnsafeRawBufferPointer>, filled: Int = 0,
    _ body: (_ pinned: Int) throws -> Result
) rethrows -> Result where Elements.Element: StoreBytes {
    if Elements.Element.self == UnsafeRawBufferPointer.self {
        // Raw buffers lend nothing: whoever made them keeps them valid for
        // the batch, so they are copied in without a closure per element.
        var filled = filled
        while filled < count && index != elements.endIndex {
            (pinned + filled).initialize(to: unsafeBitCast(elements[index], to: UnsafeRawBufferPointer.self))
            elements.formIndex(after: &index)
            filled += 1
        }
        return try body(filled)
    }
    guard filled < count, index != elements.endIndex else { return try body(filled) }
    let current = index
    elements.formIndex(after: &index)
    return try elements[current].withStoreBytes { bytes in
        // Valid while this closure runs, which is until `body` returns.
        (pinned + filled).initialize(to: bytes)
        return try withPinnedBytes(of: elements, from: &index, count: count, into: pinned, filled: filled + 1, body)
    }
}

/// Calls `body` with each chunk of up to ``batchChunk`` pinned elements of
/// `elements` and the offset of the chunk's first element, until the
/// elements run out or `body` returns false.
@inlinable
func forEachPinnedChunk<Elements: Collection>(
    of elements: Elements,
    _ body: (_ base: Int, _ chunk: UnsafeBufferPointer<UnsafeRawBufferPointer>) throws -> Bool
) rethrows where Elements.Element: StoreBytes {
    try withUnsafeTemporaryAllocation(of: UnsafeRawBufferPointer.self, capacity: batchChunk) { pinned in
        var index = elements.startIndex
        var base = 0
        var more = true
        while more && index != elements.endIndex {
            let count = try withPinnedBytes(of: elements, from: &index, count: batchChunk, into: pinned.baseAddress!) { count in
                more = try body(base, UnsafeBufferPointer(start: pinned.baseAddress, count: count))
                return count
            }
            base += count
        }
    }
}
