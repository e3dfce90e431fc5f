import NIOCore
import Synchronization
@testable import TTLKVServer

/// A subscriber's connection that never closes on its own and counts its
/// wake-ups and closes, for tests that drive a ``Subscriber`` directly.
final class CountingLink: SubscriberLink {
    let allocator = ByteBufferAllocator()
    let wakes = Atomic<Int>(0)
    let closes = Atomic<Int>(0)

    func wake() { wakes.add(1, ordering: .relaxed) }
    func close() { closes.add(1, ordering: .relaxed) }
}

/// No output buffer limit at all.
let unlimitedOutput = OutputBufferLimitSetting(OutputBufferLimit(hardBytes: 0, softBytes: 0, softSeconds: 0))
