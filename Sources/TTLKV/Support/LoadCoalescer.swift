import Dispatch
import Synchronization

/*
 Single-flight loading for get-or-insert (`value(forKey:orInsert:)`): when
 callers miss the same key of the same store at once, the first runs its
 loader and the others wait for its result, as Caffeine's
 `get(key, mappingFunction)` and Go's singleflight do.

 Loads in flight live in a table keyed by (store, key), split into shards
 with a lock each; a caller looks there only after it missed in the store,
 so hits never touch it. The leader stores what it loaded with
 insert-if-absent (a value someone set meanwhile wins and is what everyone
 gets), then resolves the load and removes it from the table.

 One race is left: a caller that missed just before the leader stored its
 value, and reaches the table just after the leader removed the load, would
 become a leader and load again. Each shard counts the loads it has
 resolved; a caller notes the count before its miss, and a new leader that
 sees it changed looks in the store once more before loading.

 A synchronous caller blocks its thread while it waits. It therefore waits
 only for another synchronous load, never for an asynchronous one (whose
 loader may need the very thread pool the waiter blocks): it runs its own
 loader instead, and insert-if-absent still gives both the same value. An
 asynchronous caller suspends, and waits for either kind.
 */
final class LoadCoalescer: Sendable {
    static let shared = LoadCoalescer()

    /// A key of one store.
    struct Key: Hashable, Sendable {
        let store: ObjectIdentifier
        let bytes: [UInt8]
    }

    /// What a caller that missed does next.
    enum Role {
        /// Run the loader and resolve this load; `recheck` if a load of
        /// this shard was resolved since the caller's miss.
        case leader(Load, recheck: Bool)
        /// Wait for this load's result.
        case follower(Load)
        /// Load alone (a synchronous caller found an asynchronous load).
        case alone
    }

    /// One load in flight: its result, once there, for every waiter.
    final class Load: Sendable {
        private enum State: Sendable {
            case running(waiters: [CheckedContinuation<[UInt8], any Error>])
            case resolved(Result<[UInt8], any Error>)
        }

        let isAsync: Bool
        /// The thread of a synchronous leader, to refuse a loader that asks
        /// for its own key (it would wait for itself).
        private let leaderThread: UInt?
        private let state = Locked(State.running(waiters: []))
        private let done = DispatchGroup()

        init(isAsync: Bool) {
            self.isAsync = isAsync
            leaderThread = isAsync ? nil : currentThreadID()
            done.enter()
        }

        /// Blocks until the load is resolved.
        func wait() throws -> [UInt8] {
            if leaderThread == currentThreadID() { throw StoreError.recursiveLoad }
            done.wait()
            return try state.withLock { state in
                guard case .resolved(let result) = state else { preconditionFailure("load resolved without a result") }
                return result
            }.get()
        }

        /// Suspends until the load is resolved.
        func value() async throws -> [UInt8] {
            try await withCheckedThrowingContinuation { continuation in
                let resolved = state.withLock { state -> Result<[UInt8], any Error>? in
                    switch state {
                    case .running(var waiters):
                        waiters.append(continuation)
                        state = .running(waiters: waiters)
                        return nil
                    case .resolved(let result):
                        return result
                    }
                }
                if let resolved { continuation.resume(with: resolved) }
            }
        }

        fileprivate func resolve(_ result: Result<[UInt8], any Error>) {
            let waiters = state.withLock { state in
                defer { state = .resolved(result) }
                guard case .running(let waiters) = state else { return [CheckedContinuation<[UInt8], any Error>]() }
                return waiters
            }
            done.leave()
            for waiter in waiters { waiter.resume(with: result) }
        }
    }

    private final class Shard: Sendable {
        let loads = Locked<[Key: Load]>([:])
        let resolved = Atomic<UInt64>(0)
    }

    private let shards = (0..<16).map { _ in Shard() }

    private func shard(for key: Key) -> Shard {
        shards[key.hashValue & (shards.count - 1)]
    }

    /// The loads of `key`'s shard resolved so far: note it before the miss.
    func resolvedCount(for key: Key) -> UInt64 {
        shard(for: key).resolved.load(ordering: .acquiring)
    }

    /// After a miss: lead a new load of `key`, or follow the one in flight.
    func join(_ key: Key, isAsync: Bool, resolvedBeforeMiss: UInt64) -> Role {
        let shard = shard(for: key)
        let (load, created) = shard.loads.withLock { loads -> (Load, Bool) in
            if let load = loads[key] { return (load, false) }
            let load = Load(isAsync: isAsync)
            loads[key] = load
            return (load, true)
        }
        if created {
            return .leader(load, recheck: shard.resolved.load(ordering: .acquiring) != resolvedBeforeMiss)
        }
        return isAsync || !load.isAsync ? .follower(load) : .alone
    }

    /// Resolves the load that `join` made this caller lead.
    func resolve(_ key: Key, _ load: Load, with result: Result<[UInt8], any Error>) {
        let shard = shard(for: key)
        // Counted before it leaves the table: whoever finds it gone sees the
        // count changed.
        shard.resolved.add(1, ordering: .releasing)
        shard.loads.withLock { _ = $0.removeValue(forKey: key) }
        load.resolve(result)
    }
}
