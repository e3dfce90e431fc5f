#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a store operation was refused. A refused operation changes nothing.
///
/// `StoreError` is a struct with one static member per kind of error, the
/// pattern SwiftNIO and AsyncHTTPClient use, so that a later version can add
/// kinds without breaking code that switches over them. Match a kind with an
/// expression pattern and end the switch with `default`:
///
/// ```swift
/// do {
///     try store.set(value, forKey: key)
/// } catch let error as StoreError {
///     switch error {
///     case .full: evictSomething()
///     case .keyTooLarge, .valueTooLarge: reject(error)
///     default: throw error
///     }
/// }
/// ```
///
/// Two errors are equal when they are of the same kind; some carry a detail
/// for people (which configuration value was out of range), shown in their
/// ``description`` and ``errorDescription`` but not compared.
public struct StoreError: Error, Hashable, Sendable {
    private enum Kind: Hashable, Sendable {
        case keyTooLarge, valueTooLarge, invalidTTL, full, outOfMemory, invalidConfiguration
        case closed, writeDuringRead, invalidCursor, recursiveLoad, unexpectedStatus, exceedsMemoryBudget
    }

    private let kind: Kind
    private let detail: String?

    private init(_ kind: Kind, detail: String? = nil) {
        self.kind = kind
        self.detail = detail
    }

    /// The same kind of error with `detail` added to its description.
    func with(detail: String) -> StoreError {
        StoreError(kind, detail: detail)
    }

    /// A key longer than ``StoreConfiguration/maximumKeySize``, given to a
    /// write. (A read of such a key finds nothing: it cannot be stored.)
    public static let keyTooLarge = StoreError(.keyTooLarge)
    /// A value longer than ``StoreConfiguration/maximumValueSize``.
    public static let valueTooLarge = StoreError(.valueTooLarge)
    /// A time to live that is zero or negative, or longer than 100 years,
    /// given to a write. (``KeyValueStore/expire(_:after:)`` with zero or a
    /// negative duration removes the key instead, as Redis's EXPIRE does.)
    public static let invalidTTL = StoreError(.invalidTTL)
    /// The store already holds ``StoreConfiguration/maximumEntries`` entries.
    public static let full = StoreError(.full)
    /// Memory could not be allocated.
    public static let outOfMemory = StoreError(.outOfMemory)
    /// The entry is larger than the store's memory budget can ever hold
    /// (``StoreConfiguration/maximumBytes``, divided among its shards): no
    /// eviction would make room for it.
    public static let exceedsMemoryBudget = StoreError(.exceedsMemoryBudget)
    /// A configuration value out of range; the description says which.
    public static let invalidConfiguration = StoreError(.invalidConfiguration)
    /// The store has been closed (see ``ManagedStore/close()``).
    public static let closed = StoreError(.closed)
    /// A write made inside the closure of ``KeyValueStore/withValue(forKey:_:)``
    /// or of a key scan of ``Store``, where only reads are allowed (the write
    /// could wait for a thread that waits for this read to end).
    public static let writeDuringRead = StoreError(.writeDuringRead)
    /// A ``ScanCursor`` that this store did not make.
    public static let invalidCursor = StoreError(.invalidCursor)
    /// A loader given to `value(forKey:ttl:orInsert:)`
    /// asked, on the same thread, for the key it is loading: it would wait
    /// for itself.
    public static let recursiveLoad = StoreError(.recursiveLoad)
    /// The C core returned a status this version of the Swift API does not
    /// know; the description names it.
    public static let unexpectedStatus = StoreError(.unexpectedStatus)

    public static func == (lhs: StoreError, rhs: StoreError) -> Bool {
        lhs.kind == rhs.kind
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
    }

    private var sentence: String {
        switch kind {
        case .keyTooLarge: "The key is longer than the store's maximum key size."
        case .valueTooLarge: "The value is longer than the store's maximum value size."
        case .invalidTTL: "The time to live is not positive, or longer than 100 years."
        case .full: "The store holds its maximum number of entries."
        case .outOfMemory: "The store could not allocate memory."
        case .exceedsMemoryBudget: "The entry is larger than the store's memory budget can hold."
        case .invalidConfiguration: "The store configuration is invalid."
        case .closed: "The store has been closed."
        case .writeDuringRead: "A write was made inside a read of the same store, where only reads are allowed."
        case .invalidCursor: "The scan cursor was not made by this store."
        case .recursiveLoad: "A loader asked for the key it is loading."
        case .unexpectedStatus: "The store returned an unexpected status."
        }
    }
}

extension StoreError: CustomStringConvertible {
    /// The kind and what it means, e.g. `StoreError.full: The store holds
    /// its maximum number of entries.`
    public var description: String {
        "StoreError.\(kind): \(errorDescription ?? "")"
    }
}

extension StoreError: LocalizedError {
    /// What went wrong, in a sentence or two; Foundation's
    /// `localizedDescription` shows it.
    public var errorDescription: String? {
        guard let detail else { return sentence }
        return "\(sentence.dropLast()): \(detail)."
    }
}
