import Foundation
import Synchronization
import Testing
import TTLKV

/// Linearizability of set, get and remove, on both stores.
///
/// Three threads run short random programs against two keys at once; every
/// call and return is stamped from one shared counter. For each key the
/// history must be explainable by a single register (a value, or absent)
/// whose operations took effect one at a time, each at some instant between
/// its call and its return: the checker searches for such an order (Wing and
/// Gong's algorithm with memoisation on the set of operations already placed
/// and the register's value, as Porcupine does). Keys are fresh per history,
/// so every register starts absent.
@Suite struct LinearizabilityTests {
    enum Call: Hashable {
        case set(Int)
        case get
        case remove
    }

    enum Reply: Hashable {
        case done
        case value(Int?)
        case removed(Bool)
    }

    struct Operation {
        var call: Call
        var reply: Reply
        var start: Int
        var end: Int
    }

    /// Whether `history` (one key) is linearizable as a register.
    static func linearizable(_ history: [Operation]) -> Bool {
        var seen = Set<[Int]>()
        func search(_ done: UInt64, _ state: Int?) -> Bool {
            if done.nonzeroBitCount == history.count { return true }
            guard seen.insert([Int(bitPattern: UInt(done)), state ?? -1]).inserted else { return false }
            // Only an operation that no pending one returned before may go next.
            let pending = history.indices.filter { done & (1 << UInt64($0)) == 0 }
            let earliestEnd = pending.map { history[$0].end }.min()!
            for i in pending where history[i].start < earliestEnd {
                let op = history[i]
                let next: Int?
                switch (op.call, op.reply) {
                case (.set(let v), .done): next = v
                case (.get, .value(let v)) where v == state: next = state
                case (.remove, .removed(let r)) where r == (state != nil): next = nil
                default: continue
                }
                if search(done | (1 << UInt64(i)), next) { return true }
            }
            return false
        }
        return search(0, nil)
    }

    /// Runs one history of `threads` x `length` operations over two keys.
    static func record(store: any KeyValueStore, history: Int, threads: Int, length: Int) -> [[Operation]] {
        let clock = Atomic<Int>(0)
        let ready = Atomic<Int>(0)
        let logs = Mutex<[(Int, Operation)]>([])
        ConcurrencyStressTests.onThreads(threads) { thread in
            var random = SystemRandomNumberGenerator()
            var mine: [(Int, Operation)] = []
            ready.add(1, ordering: .relaxed)
            while ready.load(ordering: .relaxed) < threads {}
            for i in 0..<length {
                let key = Int.random(in: 0..<2, using: &random)
                let name = "h\(history)k\(key)"
                let call: Call = switch Int.random(in: 0..<3, using: &random) {
                case 0: .set(thread * 1000 + i)
                case 1: .get
                default: .remove
                }
                let start = clock.add(1, ordering: .sequentiallyConsistent).newValue
                let reply: Reply
                switch call {
                case .set(let v): try! store.set(String(v), forKey: name); reply = .done
                case .get: reply = .value(try! store.string(forKey: name).flatMap { Int($0) })
                case .remove: reply = .removed(try! store.removeValue(forKey: name))
                }
                let end = clock.add(1, ordering: .sequentiallyConsistent).newValue
                mine.append((key, Operation(call: call, reply: reply, start: start, end: end)))
            }
            logs.withLock { $0.append(contentsOf: mine) }
        }
        let all = logs.withLock { $0 }
        return (0..<2).map { key in all.filter { $0.0 == key }.map(\.1) }
    }

    @Test func checkerRejectsAStaleRead() {
        // set(1) returns before get starts, yet get sees nothing.
        let history = [
            Operation(call: .set(1), reply: .done, start: 1, end: 2),
            Operation(call: .get, reply: .value(nil), start: 3, end: 4),
        ]
        #expect(!Self.linearizable(history))
        // Overlapping, the same get is fine: it may take effect first.
        let overlapping = [
            Operation(call: .set(1), reply: .done, start: 1, end: 4),
            Operation(call: .get, reply: .value(nil), start: 2, end: 3),
        ]
        #expect(Self.linearizable(overlapping))
    }

    @Test(arguments: StoreKind.allCases)
    func setGetRemoveAreLinearizable(kind: StoreKind) throws {
        let store = try kind.make(StoreConfiguration(capacity: 4096))
        var checked = 0
        for history in 0..<1_500 {
            for keyHistory in Self.record(store: store, history: history, threads: 3, length: 6) {
                #expect(Self.linearizable(keyHistory), "history \(history): \(keyHistory)")
                checked += 1
            }
        }
        #expect(checked == 3_000)
    }
}
