/// The live keys of a store, traversed as they are iterated: see
/// ``KeyValueStore/keys``.
///
/// Each step of the iteration asks the store for the next batch of keys
/// (``KeyValueStore/scanKeys(from:count:_:)``) and copies them, so the store
/// is never held while the loop body runs.
public struct StoreKeys: Sequence, Sendable {
    let store: any KeyValueStore

    public func makeIterator() -> Iterator {
        Iterator(store: store)
    }

    /// Iterates the keys of one traversal.
    public struct Iterator: IteratorProtocol {
        /// Slots (``Store``) or shards (``NativeStore``) per batch.
        static let batchWork = 256

        let store: any KeyValueStore
        private var batch: [[UInt8]] = []
        private var index = 0
        private var cursor: ScanCursor? = .start

        init(store: any KeyValueStore) {
            self.store = store
        }

        public mutating func next() -> [UInt8]? {
            while index == batch.count {
                guard let from = cursor else { return nil }
                var keys = batch
                keys.removeAll(keepingCapacity: true)
                // A closed store has no keys: the traversal ends.
                cursor = try? store.scanKeys(from: from, count: Self.batchWork) { keys.append(Array($0)) }
                batch = keys
                index = 0
            }
            defer { index += 1 }
            return batch[index]
        }
    }
}
