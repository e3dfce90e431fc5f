import TTLKV

struct Session: Codable {
    var user: String
    var roles: [String]
}

let store = try Store(capacity: 100_000)   // preallocated: no resize up to 100,000 keys

// Keys and values are bytes (String, [UInt8], Data, any ContiguousBytes), or Codable values.
try store.set("alice", forKey: "session:42", ttl: .seconds(30))
try store.set(encoding: Session(user: "alice", roles: ["admin"]), forKey: "session:43", ttl: .seconds(30))
let user = try store.string(forKey: "session:42")                   // "alice"; nil once expired
let session = try store.value(Session.self, forKey: "session:43")   // decoded in place
let size = try store.withValue(forKey: "session:42") { bytes in bytes.count }   // zero-copy

// Batches: many keys per call, each key's result as its own call's.
try store.set([(key: "hits:42", value: "1", ttl: .seconds(60)), (key: "hits:43", value: "7", ttl: nil)])
let hits = try store.values(forKeys: ["hits:42", "hits:43", "hits:44"])   // ["1", "7", nil] as bytes

// Sliding expiration: a new TTL, the value untouched.
try store.expire("session:42", after: .seconds(60))
if case .remaining(let left)? = try store.timeToLive(forKey: "session:42") {
    print("session:42 expires in", left)
}

// Get-or-insert: callers that miss one key at the same time run the loader once.
let profile = try store.value(forKey: "profile:42", ttl: .seconds(300)) { "loaded from the database" }

// Expired keys: a listener, registered while its token lives, or an AsyncSequence.
let token = try store.addExpiryListener { events in
    for event in events { print("expired:", String(decoding: event.key, as: UTF8.self), "late by", event.lag) }
}
let expiries = store.expiryEvents
let watcher = Task {
    var count = 0
    for await _ in expiries { count += 1 }
    return count
}

do {
    try store.set("too long", forKey: String(repeating: "k", count: 100_000))
} catch let error as StoreError {
    print(error)   // StoreError.keyTooLarge: The key is longer than the store's maximum key size.
}

for key in store.keys { print("live:", String(decoding: key, as: UTF8.self)) }
print(user ?? "gone", session?.roles ?? [], size ?? 0, String(decoding: profile, as: UTF8.self), hits.map { $0?.count ?? 0 })
token.cancel()
store.close()   // ends the expiry sequence; later calls throw StoreError.closed
print("expired while running:", await watcher.value)
