import NIOCore

/// A connection's outgoing replies, encoded into one buffer that is written
/// to the socket once per batch of requests.
///
/// RESP2 by default; after `HELLO 3` the few replies that differ use RESP3
/// types: nulls (`_`), maps (`%`) and verbatim text (`=`). Numbers are
/// formatted in place, with no intermediate `String`.
struct Replies {
    /// The encoded replies not yet handed to the channel.
    var buffer: ByteBuffer
    /// Whether the connection speaks RESP3 (after `HELLO 3`).
    var resp3 = false

    init(allocator: ByteBufferAllocator) {
        buffer = allocator.buffer(capacity: 4096)
    }

    var isEmpty: Bool { buffer.readableBytes == 0 }

    /// Appends replies encoded elsewhere; when none are pending it takes
    /// `encoded` as the buffer itself, so that a large answer is not copied.
    mutating func append(_ encoded: ByteBuffer) {
        if isEmpty {
            buffer = encoded
        } else {
            var encoded = encoded
            buffer.writeBuffer(&encoded)
        }
    }

    mutating func ok() {
        buffer.writeStaticString("+OK\r\n")
    }

    /// A status reply, `+text`.
    mutating func status(_ text: StaticString) {
        buffer.writeStaticString("+")
        buffer.writeStaticString(text)
        buffer.writeStaticString("\r\n")
    }

    /// A status reply built at run time.
    mutating func status(_ text: String) {
        buffer.writeStaticString("+")
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    /// An error reply; `message` starts with its code (`ERR`, `NOAUTH`, ...).
    /// Line breaks become spaces, as Redis does, so a client's bytes echoed
    /// in a message cannot end the reply early.
    mutating func error(_ message: String) {
        buffer.writeStaticString("-")
        var text = message
        if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            text = String(decoding: text.utf8.map { $0 == 0x0D || $0 == 0x0A ? 0x20 : $0 }, as: UTF8.self)
        }
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    mutating func integer(_ value: Int64) {
        buffer.writeStaticString(":")
        writeDecimal(value)
        buffer.writeStaticString("\r\n")
    }

    mutating func integer(_ value: Int) {
        integer(Int64(value))
    }

    mutating func bulk(_ bytes: UnsafeRawBufferPointer) {
        buffer.writeStaticString("$")
        writeDecimal(Int64(bytes.count))
        buffer.writeStaticString("\r\n")
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
    }

    mutating func bulk(_ text: String) {
        var text = text
        text.withUTF8 { bulk(UnsafeRawBufferPointer($0)) }
    }

    mutating func bulk(decimal value: Int64) {
        DecimalDigits(value).withDigits { bulk($0) }
    }

    /// A HELP reply: one status line per line of text.
    mutating func help(_ lines: [String]) {
        arrayHeader(lines.count)
        for line in lines { status(line) }
    }

    /// The null bulk string (`$-1`, or `_` in RESP3).
    mutating func null() {
        if resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("$-1\r\n") }
    }

    /// The null array (`*-1`, or `_` in RESP3): EXEC that found a watched
    /// key written.
    mutating func nullArray() {
        if resp3 { buffer.writeStaticString("_\r\n") } else { buffer.writeStaticString("*-1\r\n") }
    }

    mutating func arrayHeader(_ count: Int) {
        buffer.writeStaticString("*")
        writeDecimal(Int64(count))
        buffer.writeStaticString("\r\n")
    }

    /// A map of `count` pairs: `%count` in RESP3, a flat array in RESP2.
    mutating func mapHeader(_ count: Int) {
        buffer.writeStaticString(resp3 ? "%" : "*")
        writeDecimal(Int64(resp3 ? count : 2 * count))
        buffer.writeStaticString("\r\n")
    }

    /// Plain text meant for people (INFO): a verbatim string in RESP3.
    mutating func verbatim(_ text: String) {
        guard resp3 else { return bulk(text) }
        buffer.writeStaticString("=")
        writeDecimal(Int64(text.utf8.count + 4))
        buffer.writeStaticString("\r\ntxt:")
        buffer.writeString(text)
        buffer.writeStaticString("\r\n")
    }

    private mutating func writeDecimal(_ value: Int64) {
        DecimalDigits(value).withDigits { buffer.writeBytes($0) }
    }
}

/// The decimal form of an Int64, built right to left in 20 bytes of stack.
struct DecimalDigits {
    private var bytes: (UInt64, UInt64, UInt64) = (0, 0, 0)
    /// Index of the first character in `bytes`.
    private var start = 24

    init(_ value: Int64) {
        var magnitude = value.magnitude
        withUnsafeMutableBytes(of: &bytes) { out in
            repeat {
                start -= 1
                out[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            if value < 0 {
                start -= 1
                out[start] = UInt8(ascii: "-")
            }
        }
    }

    /// Calls body with the characters.
    @discardableResult
    func withDigits<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        withUnsafeBytes(of: bytes) { body(UnsafeRawBufferPointer(rebasing: $0[start...])) }
    }
}
