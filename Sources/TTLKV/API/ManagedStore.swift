/// A store that runs its own expiry worker: it reports statistics, tells
/// listeners of expired keys, and can be closed. ``Store`` and
/// ``NativeStore`` conform.
///
/// ```swift
/// let store = try Store(capacity: 100_000)
/// let token = try store.addExpiryListener { events in
///     for event in events { print("expired:", event.key, "late by", event.lag) }
/// }
/// Task {
///     for await event in store.expiryEvents { await sessions.end(event.key) }
/// }
/// ```
public protocol ManagedStore: KeyValueStore {
    /// The store's clock now: the time base of its deadlines and events.
    var now: StoreClock.Instant { get }

    /// A snapshot of the store's counters.
    var statistics: StoreStatistics { get }

    /// Registers `listener` to be told, on the expiry worker's thread and in
    /// batches, of every key that expired (see ``ExpiryEvent``). Keep it
    /// short: the worker waits for it.
    ///
    /// The listener stays registered as long as the returned token exists:
    /// drop the token or call ``ExpiryListenerToken/cancel()`` to remove it.
    /// So a listener may capture its store: it keeps the store (and its
    /// worker thread) alive only as long as the token, and there is no
    /// cycle to break by hand. Throws ``StoreError/closed`` once the store
    /// is closed.
    func addExpiryListener(_ listener: @escaping @Sendable ([ExpiryEvent]) -> Void) throws -> ExpiryListenerToken

    /// Every key that expires from now on, for Swift concurrency.
    ///
    /// Each access returns a new sequence for one consumer, registered at
    /// once. When the consumer is slower than the expiries, the sequence
    /// buffers up to ``StoreConfiguration/expiryEventBufferSize`` events and
    /// then drops new ones (keeping the oldest), counting them in
    /// ``StoreStatistics/droppedExpiryEvents``. The sequence ends when the
    /// store is closed or deinitialized, or at once if it already is closed;
    /// ending the iteration (or cancelling its task) unregisters it. It does
    /// not keep the store alive.
    var expiryEvents: AsyncStream<ExpiryEvent> { get }

    /// Stops the expiry worker, removes every entry (giving their memory
    /// back now rather than at deinitialization), and ends every listener
    /// and ``expiryEvents`` sequence. Idempotent.
    ///
    /// Afterwards ``KeyValueStore/count`` is 0, ``KeyValueStore/keys`` is
    /// empty, ``statistics`` still reports the final counters, and every
    /// other call throws ``StoreError/closed``. Calls already running when
    /// `close()` is called finish normally.
    func close()
}
