/*
 Keyspace notifications: what writes and the expiry worker publish when
 `notify-keyspace-events` asks for it.

 Off by default, and then a write pays one relaxed atomic load to learn
 it; on, with nobody subscribed, one more (PubSub.isEmpty). Only then is a
 channel name built (on the stack) and published, as Redis does: to
 `__keyspace@0__:<key>` with the event as the message (class K) and to
 `__keyevent@0__:<event>` with the key as the message (class E).

 `expired` comes from the store's expiry listener, which reports every key
 whose deadline passed exactly once, whoever removed it: the worker within
 a tick of the deadline, or a write that found it expired, at the worker's
 next round. So `expired` is on time, and never depends on a lookup. The
 listener is registered only while the flags ask for expired (or evicted)
 events, so that the worker builds no events nobody wants.
 */
import Synchronization
@_spi(Internals) import TTLKV

/// The server's keyspace notifications: their flags and their publishing.
final class KeyspaceNotifier: Sendable {
    private let publisher: Publisher
    private let keyspace: Keyspace
    /// The store's expiry listener, while the flags want its events.
    private let listener = Locked<Keyspace.ExpiryListening?>(nil)

    /// What publishes, apart from the notifier so that the store's listener
    /// can hold it strongly: a weak reference would give the notifier a
    /// side table, and every retain of it on the write path the slow way.
    private final class Publisher: Sendable {
        let flagBits: Atomic<Int>
        let pubSub: PubSub

        init(flags: KeyspaceEventFlags, pubSub: PubSub) {
            flagBits = Atomic(flags.rawValue)
            self.pubSub = pubSub
        }

        @inline(__always)
        func notify(_ event: KeyspaceEvent, key: UnsafeRawBufferPointer, batch: @autoclosure () -> PublishBatch?) {
            let flags = flagBits.load(ordering: .relaxed)
            guard flags & event.type.rawValue != 0, !pubSub.isEmpty else { return }
            publish(event, key: key, flags: KeyspaceEventFlags(rawValue: flags), batch: batch())
        }

        private func publish(_ event: KeyspaceEvent, key: UnsafeRawBufferPointer, flags: KeyspaceEventFlags, batch: PublishBatch?) {
            // Unretained, so that the closure below captures no reference:
            // a retain of the shared PubSub moves its count's cache line
            // between the event loops' cores at every write. Safe: self
            // holds pubSub; batch is its session's, which the running
            // command holds and which never lets go of it (nothing a
            // publish reaches closes a session but through its loop).
            let pubSub = Unmanaged.passUnretained(self.pubSub)
            let batch = batch.map(Unmanaged.passUnretained)
            if flags.contains(.keyspace) {
                let prefix: StaticString = "__keyspace@0__:"
                let length = prefix.utf8CodeUnitCount + key.count
                withUnsafeTemporaryAllocation(byteCount: length, alignment: 1) { channel in
                    channel.copyMemory(from: prefix.bytes)
                    UnsafeMutableRawBufferPointer(rebasing: channel[prefix.utf8CodeUnitCount...]).copyMemory(from: key)
                    Self.publish(event.name.bytes, to: UnsafeRawBufferPointer(channel), pubSub, batch)
                }
            }
            if flags.contains(.keyevent) {
                Self.publish(key, to: event.keyeventChannel.bytes, pubSub, batch)
            }
        }

        @inline(__always)
        private static func publish(_ message: UnsafeRawBufferPointer, to channel: UnsafeRawBufferPointer,
                                    _ pubSub: Unmanaged<PubSub>, _ batch: Unmanaged<PublishBatch>?) {
            pubSub._withUnsafeGuaranteedRef { pubSub in
                if let batch {
                    _ = batch._withUnsafeGuaranteedRef { pubSub.publish(message, to: channel, batch: $0) }
                } else {
                    _ = pubSub.publish(message, to: channel, batch: nil)
                }
            }
        }
    }

    init(flags: KeyspaceEventFlags, pubSub: PubSub, keyspace: Keyspace) {
        publisher = Publisher(flags: flags, pubSub: pubSub)
        self.keyspace = keyspace
        setFlags(flags)
    }

    /// The flags in force.
    var flags: KeyspaceEventFlags { KeyspaceEventFlags(rawValue: publisher.flagBits.load(ordering: .relaxed)) }

    /// Changes the flags (CONFIG SET notify-keyspace-events).
    func setFlags(_ flags: KeyspaceEventFlags) {
        // Under the lock, so that the last CONFIG SET decides both.
        listener.withLock { listener in
            publisher.flagBits.store(flags.rawValue, ordering: .relaxed)
            listenForExpiries(flags, &listener)
        }
    }

    /// Publishes event for key, if the flags ask for it and anyone listens:
    /// into batch, a connection's (PublishBatch.swift), or with none
    /// (the expiry worker), straight to the subscribers.
    @inline(__always)
    func notify(_ event: KeyspaceEvent, key: UnsafeRawBufferPointer, batch: @autoclosure () -> PublishBatch? = nil) {
        publisher.notify(event, key: key, batch: batch())
    }

    /// Registers the store's expiry listener if flags want its events (and
    /// K or E says where to send them), and drops it if not.
    private func listenForExpiries(_ flags: KeyspaceEventFlags, _ listener: inout Keyspace.ExpiryListening?) {
        let wanted = !flags.isDisjoint(with: [.expired, .evicted]) && !flags.isDisjoint(with: [.keyspace, .keyevent])
        if wanted && listener == nil {
            // The publisher, not the notifier: the notifier owns the
            // listener's token, and the store must not keep the notifier.
            listener = keyspace.onRemoval { [publisher] key, removal in
                publisher.notify(removal == .evicted ? .evicted : .expired, key: key, batch: nil)
            }
        } else if !wanted {
            listener?.cancel()
            listener = nil
        }
    }
}
