import Synchronization

/*
 WATCH: who watches which key, and the marks writes leave on them.

 A connection's WATCH registers its ``Watcher`` under each key while it
 holds the key's shard lock (a store transaction), and every write, from
 any connection, calls ``WatchRegistry/touch(_:)`` while it holds its
 key's shard lock. So a write and a registration of the same key are
 ordered by that lock: a write that comes after the WATCH sees the watcher
 and marks it, and EXEC, which checks the mark under the same locks, sees
 every write that came before it. When nobody watches, a write's check is
 one relaxed load of a counter.

 Expiry and eviction are not writes anyone makes here: the store's worker
 removes keys on its own. EXEC catches them another way: a key that was
 live when it was watched and is not live at EXEC has expired, been evicted
 or been removed since, and fails the EXEC too (Redis fails it in the same
 cases). A key absent at WATCH that comes and expires again before EXEC
 was written by someone, which marked it.

 The watched keys are kept in stripes, each a dictionary from a key's hash
 to the watchers of the keys with that hash, under a mutex of its own, so
 that writes to different keys while some key is watched rarely meet on
 one lock.
 */

/// One connection's WATCH state, as writers see it: set once a watched key
/// is written.
final class Watcher: Sendable {
    private let written = Atomic<Bool>(false)

    var isDirty: Bool { written.load(ordering: .relaxed) }

    func markDirty() { written.store(true, ordering: .relaxed) }
}

/// The watched keys of every connection.
final class WatchRegistry: Sendable {
    private struct Watched {
        let key: [UInt8]
        let watcher: Watcher
    }

    /// The watchers of the keys whose hashes fall in one stripe, by hash.
    private final class Stripe: Sendable {
        let table = Mutex<[Int: [Watched]]>([:])
    }

    private static let stripeCount = 64

    /// Registrations over all connections: 0 makes ``touch(_:)`` one load.
    private let registrations = Atomic<Int>(0)
    private let stripes = (0..<WatchRegistry.stripeCount).map { _ in Stripe() }

    /// Whether no key is watched by anyone.
    var isEmpty: Bool { registrations.load(ordering: .relaxed) == 0 }

    /// Marks the watchers of key. Called by every write, under the key's
    /// shard lock.
    func touch(_ key: UnsafeRawBufferPointer) {
        // Relaxed suffices: a registration of this key was made under the
        // same shard lock, whose release and acquire order it before.
        guard registrations.load(ordering: .relaxed) != 0 else { return }
        let hash = Self.hash(key)
        stripes[Self.stripe(hash)].table.withLock { table in
            for watched in table[hash] ?? [] where watched.key.elementsEqual(key) {
                watched.watcher.markDirty()
            }
        }
    }

    /// Registers watcher under key. The caller holds key's shard lock.
    func register(_ watcher: Watcher, key: [UInt8]) {
        let hash = key.withUnsafeBytes { Self.hash($0) }
        stripes[Self.stripe(hash)].table.withLock { $0[hash, default: []].append(Watched(key: key, watcher: watcher)) }
        registrations.add(1, ordering: .relaxed)
    }

    /// Removes watcher's registrations under keys (each registered once).
    func unregister(_ watcher: Watcher, keys: some Sequence<[UInt8]>) {
        var removed = 0
        for key in keys {
            let hash = key.withUnsafeBytes { Self.hash($0) }
            stripes[Self.stripe(hash)].table.withLock { table in
                guard var list = table[hash] else { return }
                let before = list.count
                list.removeAll { $0.watcher === watcher && $0.key == key }
                removed += before - list.count
                table[hash] = list.isEmpty ? nil : list
            }
        }
        registrations.subtract(removed, ordering: .relaxed)
    }

    private static func hash(_ key: UnsafeRawBufferPointer) -> Int {
        var hasher = Hasher()
        hasher.combine(bytes: key)
        return hasher.finalize()
    }

    private static func stripe(_ hash: Int) -> Int {
        Int(UInt(bitPattern: hash) % UInt(stripeCount))
    }
}
