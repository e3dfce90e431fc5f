/// How long a key has left.
public enum TimeToLive: Hashable, Sendable {
    /// The key never expires.
    case never
    /// The key expires after this long (at least a millisecond).
    case remaining(Duration)
}
