import NIOCore

/// One message on its way to one subscriber: `message` (a channel
/// subscription) or `pmessage` (a pattern's), encoded as Redis sends them,
/// a RESP2 array or, to a RESP3 client, a push (`>`) with the same parts.
/// The bytes are the publisher's and valid only during the delivery.
struct PushMessage {
    /// What follows the `*` or `>`, up to the channel: the part count and
    /// the kind, and for a `pmessage` the pattern (see ``head(pattern:)``).
    let head: UnsafeRawBufferPointer
    let channel: UnsafeRawBufferPointer
    let payload: UnsafeRawBufferPointer

    /// The head of a `message`.
    static let messageHead: StaticString = "3\r\n$7\r\nmessage\r\n"

    /// The head of a `pmessage` of pattern, made once per pattern rather
    /// than once per message.
    static func head(pattern: [UInt8]) -> [UInt8] {
        var head = Array("4\r\n$8\r\npmessage\r\n$".utf8)
        DecimalDigits(Int64(pattern.count)).withDigits { head += $0 }
        return head + Array("\r\n".utf8) + pattern + Array("\r\n".utf8)
    }

    /// The encoded size, which counts against the subscriber's output
    /// buffer limit before anything is copied.
    var encodedSize: Int {
        1 + head.count + bulkSize(channel.count) + bulkSize(payload.count)
    }

    /// Writes the message at the end of buffer, in one pass over its
    /// memory (a publisher holds the subscriber's outbox lock meanwhile).
    func write(to buffer: inout ByteBuffer, resp3: Bool) {
        let size = encodedSize
        let written = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { out in
            var cursor = Cursor(out: out)
            cursor.byte(resp3 ? UInt8(ascii: ">") : UInt8(ascii: "*"))
            cursor.put(head)
            cursor.bulk(channel)
            cursor.bulk(payload)
            return cursor.at
        }
        assert(written == size, "encodedSize disagrees with the encoding")
    }

    /// Where the encoding has got to in the buffer's free room.
    private struct Cursor {
        let out: UnsafeMutableRawBufferPointer
        var at = 0

        mutating func put(_ bytes: UnsafeRawBufferPointer) {
            UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + bytes.count)]).copyMemory(from: bytes)
            at += bytes.count
        }

        mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
            byte(UInt8(ascii: "$"))
            // Channel names and payloads are mostly under 100 bytes.
            if bytes.count < 100 {
                if bytes.count >= 10 { byte(UInt8(ascii: "0") + UInt8(bytes.count / 10)) }
                byte(UInt8(ascii: "0") + UInt8(bytes.count % 10))
            } else {
                DecimalDigits(Int64(bytes.count)).withDigits { put($0) }
            }
            lineEnd()
            put(bytes)
            lineEnd()
        }

        /// `\r\n`, stored rather than copied: a copy's call cost more than
        /// its two bytes.
        mutating func lineEnd() {
            byte(UInt8(ascii: "\r"))
            byte(UInt8(ascii: "\n"))
        }

        mutating func byte(_ value: UInt8) {
            out[at] = value
            at += 1
        }
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
