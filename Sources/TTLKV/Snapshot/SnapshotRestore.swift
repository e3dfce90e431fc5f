/// One entry of a snapshot being loaded, as a core stores it: its key and
/// value (bytes the caller keeps valid for the call) and its absolute
/// deadline in store-clock milliseconds (0: none).
@usableFromInline
struct SnapshotRestoreItem {
    let key: UnsafeRawBufferPointer
    let value: UnsafeRawBufferPointer
    let deadline: UInt64
}

/// The first item of a batch that a core could not store: its offset in
/// the batch, how many items before it had expired, and why.
struct SnapshotRestoreFailure: Error {
    let offset: Int
    let expiredBefore: Int
    let error: StoreError
}
