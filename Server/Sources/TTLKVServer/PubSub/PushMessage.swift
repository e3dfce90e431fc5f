import NIOCore

/// One message on its way to one subscriber: `message` (a channel
/// subscription) or `pmessage` (a pattern's), encoded as Redis sends them,
/// a RESP2 array or, to a RESP3 client, a push (`>`) with the same parts.
/// The bytes are the publisher's and valid only during the delivery.
struct PushMessage {
    /// The pattern that matched, for a `pmessage`; nil for a `message`.
    let pattern: UnsafeRawBufferPointer?
    let channel: UnsafeRawBufferPointer
    let payload: UnsafeRawBufferPointer

    /// The encoded size, which counts against the subscriber's output
    /// buffer limit before anything is copied.
    var encodedSize: Int {
        var size = pattern == nil ? 4 + 13 : 4 + 14 + bulkSize(pattern!.count)
        size += bulkSize(channel.count) + bulkSize(payload.count)
        return size
    }

    func write(to buffer: inout ByteBuffer, resp3: Bool) {
        buffer.writeStaticString(resp3 ? ">" : "*")
        if let pattern {
            buffer.writeStaticString("4\r\n$8\r\npmessage\r\n")
            writeBulk(pattern, to: &buffer)
        } else {
            buffer.writeStaticString("3\r\n$7\r\nmessage\r\n")
        }
        writeBulk(channel, to: &buffer)
        writeBulk(payload, to: &buffer)
    }

    private func writeBulk(_ bytes: UnsafeRawBufferPointer, to buffer: inout ByteBuffer) {
        buffer.writeStaticString("$")
        DecimalDigits(Int64(bytes.count)).withDigits { buffer.writeBytes($0) }
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    /// `$<n>\r\n<bytes>\r\n`
    private func bulkSize(_ count: Int) -> Int {
        var digits = 1, rest = count
        while rest >= 10 {
            digits += 1
            rest /= 10
        }
        return 1 + digits + 2 + count + 2
    }
}

extension Replies {
    /// A subscribe-family confirmation (`subscribe`, `unsubscribe`, ...):
    /// the kind, the channel or pattern (null when there was none to
    /// unsubscribe from), and the subscriptions left, as a push in RESP3.
    mutating func subscription(_ kind: StaticString, _ name: ChannelName?, count: Int) {
        buffer.writeStaticString(resp3 ? ">3\r\n" : "*3\r\n")
        bulk(UnsafeRawBufferPointer(start: kind.utf8Start, count: kind.utf8CodeUnitCount))
        if let name { name.bytes.withUnsafeBytes { bulk($0) } } else { null() }
        integer(count)
    }
}
