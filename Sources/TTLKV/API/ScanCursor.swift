/// Where a traversal of a store's keys goes on: see
/// ``KeyValueStore/scanKeys(from:count:_:)``.
///
/// A cursor is a 64-bit number, as in Redis's SCAN (``start`` is 0), so that
/// a server can hand it to a client and take it back. It means something
/// only to the store that made it; another store throws
/// ``StoreError/invalidCursor`` or goes on from an arbitrary place.
public struct ScanCursor: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// The cursor that starts a traversal.
    public static let start = ScanCursor(rawValue: 0)
}
