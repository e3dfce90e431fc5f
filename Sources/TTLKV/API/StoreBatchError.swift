#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why some items of a batched write were refused. Unlike a ``StoreError``,
/// it does not mean that nothing changed: every item not listed in
/// ``failures`` was written.
///
/// ```swift
/// do {
///     try store.set(items)
/// } catch let error as StoreBatchError {
///     for failure in error.failures {
///         print("item", failure.offset, "was refused:", failure.error)
///     }
/// }
/// ```
public struct StoreBatchError: Error, Hashable, Sendable {
    /// One refused item.
    public struct Failure: Hashable, Sendable {
        /// The item's offset in the batch.
        public var offset: Int
        /// What its single write would have thrown.
        public var error: StoreError

        /// A failure of the item at `offset`.
        public init(offset: Int, error: StoreError) {
            self.offset = offset
            self.error = error
        }
    }

    /// The refused items, in batch order; never empty.
    public var failures: [Failure]
    /// How many items the batch had.
    public var itemCount: Int

    /// An error for a batch of `itemCount` items of which `failures` were
    /// refused.
    public init(failures: [Failure], itemCount: Int) {
        self.failures = failures
        self.itemCount = itemCount
    }

    /// Throws the error for `failures` unless there are none.
    @usableFromInline
    static func throwIfAny(_ failures: [Failure], itemCount: Int) throws {
        if !failures.isEmpty { throw StoreBatchError(failures: failures, itemCount: itemCount) }
    }
}

extension StoreBatchError: CustomStringConvertible {
    /// How many items were refused and why, e.g. `1 of 3 items refused:
    /// item 2: StoreError.keyTooLarge: ...`.
    public var description: String {
        "\(failures.count) of \(itemCount) items refused: "
            + failures.map { "item \($0.offset): \($0.error)" }.joined(separator: "; ")
    }
}

extension StoreBatchError: LocalizedError {
    /// The same as ``description``; Foundation's `localizedDescription`
    /// shows it.
    public var errorDescription: String? { description }
}
