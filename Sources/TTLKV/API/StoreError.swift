/// Why a store operation was refused. A refused operation changes nothing.
public enum StoreError: Error, Hashable, Sendable {
    /// A key longer than ``StoreConfiguration/maximumKeySize``.
    case keyTooLarge
    /// A value longer than ``StoreConfiguration/maximumValueSize``.
    case valueTooLarge
    /// A time to live that is zero or negative, or longer than 100 years.
    case invalidTTL
    /// The store already holds ``StoreConfiguration/maximumEntries`` entries.
    case full
    /// Memory could not be allocated.
    case outOfMemory
    /// A configuration value out of range.
    case invalidConfiguration(String)
    /// The store has been closed.
    case closed
    /// A write made inside the closure of ``Store/withValue(forKey:_:)``,
    /// where the store only allows reads (the write could wait for a thread
    /// that waits for this read to end).
    case writeDuringRead
}
