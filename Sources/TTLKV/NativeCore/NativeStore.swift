/// A store with the same API as ``Store``, built from Swift's standard
/// library alone, for comparison.
///
/// It is the design a careful Swift programmer would pick: the table split
/// into shards, each a `Dictionary` reserved up front and guarded by a
/// `Mutex` from the `Synchronization` module; one allocation per entry
/// (key and value in a `ManagedBuffer`); keys hashed once with a per-store
/// seed through the standard `Hasher` (SipHash); and the same front end,
/// timing wheel, expiry worker and expiry bookkeeping as ``Store``. Reads
/// take the shard's lock (a `Mutex` cannot be shared by readers), which is
/// what the comparison measures against the lock-free C core; so does a key
/// traversal, which gathers a whole shard's live keys under its lock.
public final class NativeStore: _StoreFrontEnd {
    public let _frontEnd: _FrontEnd

    /// A store built from `configuration`; its expiry worker starts now.
    public init(configuration: StoreConfiguration) throws {
        let configuration = try configuration.validated()
        _frontEnd = try _FrontEnd(core: try NativeCore(configuration: configuration), configuration: configuration)
    }
}
