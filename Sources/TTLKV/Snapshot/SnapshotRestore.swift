/// One entry of a snapshot being loaded, as a core stores it: its key and
/// value (bytes the caller keeps valid for the call) and its absolute
/// deadline in store-clock milliseconds (0: none).
@usableFromInline
struct SnapshotRestoreItem {
    let key: UnsafeRawBufferPointer
    let value: UnsafeRawBufferPointer
    let deadline: UInt64
}

/// What a core could not store of a batch: the offsets, ascending, of the
/// items it did not store (the C core goes on past a refusal; NativeStore
/// stops at the first, so every later item is in the list), why the first
/// was refused, and how many of the others had expired.
struct SnapshotRestoreFailure: Error {
    let unstored: [Int]
    let expired: Int
    let error: StoreError

    /// The failure of the items at `unstored` of a batch that this
    /// failure's batch was taken from.
    func mapped(to unstored: [Int], expiredBefore: Int) -> SnapshotRestoreFailure {
        SnapshotRestoreFailure(unstored: self.unstored.map { unstored[$0] }, expired: expiredBefore + expired, error: error)
    }
}
