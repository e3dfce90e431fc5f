/// Keeps an expiry listener registered: dropping the token, or calling
/// ``cancel()``, removes it (see ``ManagedStore/addExpiryListener(_:)``).
public final class ExpiryListenerToken: Sendable {
    private let onCancel: Locked<(@Sendable () -> Void)?>

    /// A token that calls `onCancel` once, on ``cancel()`` or when it is
    /// deinitialized, for stores outside this module.
    public init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = Locked(onCancel)
    }

    /// Removes the listener. A batch already being delivered may still
    /// reach it; later ones do not. Idempotent.
    public func cancel() {
        let action = onCancel.withLock { action in
            defer { action = nil }
            return action
        }
        action?()
    }

    deinit {
        cancel()
    }
}
