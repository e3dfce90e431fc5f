import Synchronization

/// The expiry listeners of one store, and the delivery of events to them.
///
/// A listener stays here as long as its token lives (for an
/// ``ManagedStore/expiryEvents`` sequence, as long as the sequence): a
/// listener that captures its store holds the store only as long as the
/// token, so dropping both stops the worker however the listener was
/// written. Delivery takes a snapshot of the listeners under the lock and
/// calls them outside it, so a listener may add or cancel listeners.
final class ExpiryListeners: Sendable {
    /// One registered listener: what to call with each batch, and how to
    /// tell it that no more will come.
    final class Listener: Sendable {
        let receive: @Sendable ([ExpiryEvent]) -> Void
        let finish: @Sendable () -> Void

        init(receive: @escaping @Sendable ([ExpiryEvent]) -> Void, finish: @escaping @Sendable () -> Void = {}) {
            self.receive = receive
            self.finish = finish
        }
    }

    private struct State: Sendable {
        var entries: [ObjectIdentifier: Listener] = [:]
        var finished = false
    }

    private let state = Locked(State())
    /// Listeners registered: raised before a registration returns, so that
    /// a removal after it is recorded (ExpiryReport.swift).
    private let registered = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)
    private let eventBufferSize: Int

    init(eventBufferSize: Int) {
        self.eventBufferSize = eventBufferSize
    }

    /// Events that ``makeStream()`` sequences dropped for slow consumers.
    var droppedEvents: Int { dropped.load(ordering: .relaxed) }

    /// Registers `listener` and returns the token that keeps it; throws
    /// ``StoreError/closed`` after ``finish()``.
    func add(_ listener: Listener) throws -> ExpiryListenerToken {
        let added = state.withLock { state in
            guard !state.finished else { return false }
            state.entries[ObjectIdentifier(listener)] = listener
            registered.store(state.entries.count, ordering: .sequentiallyConsistent)
            return true
        }
        guard added else { throw StoreError.closed }
        return ExpiryListenerToken { [self] in remove(listener) }
    }

    private func remove(_ listener: Listener) {
        state.withLock { state in
            state.entries.removeValue(forKey: ObjectIdentifier(listener))
            registered.store(state.entries.count, ordering: .sequentiallyConsistent)
        }
    }

    /// A sequence of every event from now on, with a bounded buffer whose
    /// overflow is dropped and counted; finished at once after ``finish()``.
    func makeStream() -> AsyncStream<ExpiryEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: ExpiryEvent.self, bufferingPolicy: .bufferingOldest(eventBufferSize))
        let listener = Listener(
            receive: { [self] events in
                for event in events {
                    if case .dropped = continuation.yield(event) { dropped.add(1, ordering: .relaxed) }
                }
            },
            finish: { continuation.finish() }
        )
        do {
            let token = try add(listener)
            // The stream keeps the token until it ends: consumed, cancelled,
            // or dropped unread.
            continuation.onTermination = { _ in token.cancel() }
        } catch {
            continuation.finish()
        }
        return stream
    }

    /// Whether any listener is registered: the worker records removals for
    /// events only then, asking as each key goes.
    var areListening: Bool { registered.load(ordering: .relaxed) > 0 }

    /// Hands the events of `report` to every listener registered now, on
    /// the calling thread; builds none if there is no listener.
    func publish(_ report: ExpiryReport) {
        guard !report.isEmpty else { return }
        let listeners = snapshot()
        guard !listeners.isEmpty else { return }
        let events = report.events
        for listener in listeners { listener.receive(events) }
    }

    /// Ends every listener and refuses new ones: the store has stopped.
    func finish() {
        let listeners = state.withLock { state -> [Listener] in
            state.finished = true
            registered.store(0, ordering: .sequentiallyConsistent)
            defer { state.entries.removeAll() }
            return Array(state.entries.values)
        }
        for listener in listeners { listener.finish() }
    }

    private func snapshot() -> [Listener] {
        state.withLock { Array($0.entries.values) }
    }
}
