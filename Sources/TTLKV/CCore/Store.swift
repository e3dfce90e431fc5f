/// The TTLKV store: the C core on Concurrency Kit, with an expiry worker.
///
/// Lookups take no lock and never wait for writers or for expiry; writes
/// lock one shard of many, briefly; a dedicated thread
/// removes keys whose time to live has passed. Everything preallocated for
/// ``StoreConfiguration/capacity`` entries never pays for a table resize.
///
/// ```swift
/// let store = try Store(capacity: 10_000_000)
/// try store.set("v", forKey: "k", ttl: .seconds(5))
/// try store.withValue(forKey: "k") { bytes in bytes.count }   // 1, no copy
/// ```
///
/// Besides the API it shares with ``NativeStore``, it offers atomic
/// read-modify-write (``update(forKey:sizeHint:_:)``) and all-or-nothing
/// multi-key writes (``setAll(_:onlyIfNoneExist:)``).
public final class Store: _StoreFrontEnd {
    public let _frontEnd: _FrontEnd
    /// The same core as the front end's, typed, for what only it offers.
    @usableFromInline let core: CCore

    /// A store built from `configuration`; its expiry worker starts now.
    public init(configuration: StoreConfiguration) throws {
        let configuration = try configuration.validated()
        core = try CCore(configuration: configuration)
        _frontEnd = try _FrontEnd(core: core, configuration: configuration)
    }
}
