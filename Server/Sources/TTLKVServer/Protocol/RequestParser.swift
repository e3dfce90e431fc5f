/*
 The request parser: RESP2 multibulk requests and inline commands, read
 incrementally, with Redis 7's rules and error strings (networking.c,
 processMultibulkBuffer and processInlineBuffer).

 A request starting with `*` is a multibulk: `*<count>\r\n`, then `count`
 bulk strings `$<length>\r\n<bytes>\r\n`. Anything else is an inline
 command: one line, split into words the way redis-cli and telnet users
 expect (quotes, backslash escapes; see InlineArguments.swift). As in Redis,
 whose search for the line end stops at a NUL byte, a line with a NUL never
 ends: it waits for more bytes until it passes 64 KiB, then is an error.

 The caller hands the parser the unconsumed input, always starting at the
 first byte of the request being parsed, and hands it again, longer, when
 more bytes arrive. The parser remembers how far it got (arguments found,
 the bulk length it waits for, how far it searched for a line end), so a
 request that arrives one byte at a time costs linear work, not quadratic.
 Arguments are byte ranges relative to the start of the request, so the
 caller may move its buffer between calls.

 Limits, checked before any byte of an argument is buffered: the largest
 bulk length (Redis proto-max-bulk-len), the most arguments, 64 KiB for an
 inline command or a length line, and, for a connection that has not
 authenticated on a server with a password, 10 arguments of at most 16 KiB
 (as Redis 7). Redis's quirk of skipping the two bytes after a bulk string
 without checking that they are CRLF is kept: clients and proxies written
 against Redis see the same behaviour.
 */

/// Limits a connection's requests must respect.
public struct RequestLimits: Sendable, Equatable {
    /// The longest bulk string, in bytes (Redis `proto-max-bulk-len`).
    public var maximumBulkLength: Int
    /// The most arguments in one request.
    public var maximumArguments: Int

    /// An inline command or a length line longer than this is an error.
    public static let maximumLineLength = 64 * 1024
    /// Before authentication: the most arguments and the longest bulk.
    public static let unauthenticatedArguments = 10
    public static let unauthenticatedBulkLength = 16 * 1024

    /// Limits with Redis's defaults: 512 MiB bulks, 1,048,576 arguments.
    public init(maximumBulkLength: Int = 512 << 20, maximumArguments: Int = 1 << 20) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumArguments = maximumArguments
    }
}

/// Incremental parser of Redis requests; see the file comment.
public struct RequestParser {
    /// What one call found.
    public enum Outcome: Equatable {
        /// A whole request, `consumed` bytes long; its arguments are in
        /// ``arguments`` (none for an empty line or `*0`, which Redis skips).
        case request(consumed: Int)
        /// The request is not complete yet: call again with more bytes.
        case incomplete
        /// A protocol error: reply with it and close the connection.
        case protocolError(String)
    }

    /// The limits in force; ``requireAuthentication`` adds Redis's
    /// unauthenticated ones.
    public var limits: RequestLimits
    /// True while the connection must still authenticate.
    public var requireAuthentication = false

    /// Argument ranges of the last request, relative to its first byte (or,
    /// for an inline command, to ``inlineBytes``).
    public private(set) var arguments: [Range<Int>] = []
    /// True if the last request was inline: its arguments live in ``inlineBytes``.
    public private(set) var isInline = false
    /// The unescaped words of the last inline command.
    public private(set) var inlineBytes: [UInt8] = []

    // Progress through a multibulk request (count -1: not started).
    private var remaining = -1
    private var position = 0
    private var bulkLength = -1
    /// Where the search for the current line's end resumes.
    private var searched = 0

    /// Room kept between requests: argument ranges (16 bytes each) and
    /// inline bytes. A request that needed more gives the excess back.
    static let keptArguments = 1024
    static let keptInlineBytes = 4096

    public init(limits: RequestLimits = RequestLimits()) {
        self.limits = limits
        arguments.reserveCapacity(16)
    }

    /// Parses the request at the start of `input`.
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> Outcome {
        if remaining < 0 {
            guard let first = input.first else { return .incomplete }
            if first != UInt8(ascii: "*") { return parseInline(input) }
            clearArguments()
            isInline = false
        }
        return parseMultibulk(input)
    }

    /// Gives back the room a large request needed (a million arguments take
    /// 16 MiB), so that a connection idle after it keeps little of it. Call
    /// once done with the last request's ``arguments``, which it may empty;
    /// a request still in progress keeps what it has gathered.
    public mutating func releaseExcess() {
        guard remaining < 0 else { return }
        if arguments.capacity > Self.keptArguments { clearArguments() }
        if inlineBytes.capacity > Self.keptInlineBytes { inlineBytes = [] }
    }

    /// Empties ``arguments``, keeping its room only if it is small.
    private mutating func clearArguments() {
        if arguments.capacity > Self.keptArguments {
            arguments = []
            arguments.reserveCapacity(16)
        } else {
            arguments.removeAll(keepingCapacity: true)
        }
    }

    /// Ready for the next request.
    private mutating func reset() {
        remaining = -1
        position = 0
        bulkLength = -1
        searched = 0
    }

    private mutating func finish(_ consumed: Int) -> Outcome {
        reset()
        return .request(consumed: consumed)
    }

    private mutating func fail(_ message: String) -> Outcome {
        reset()
        clearArguments()
        return .protocolError("Protocol error: " + message)
    }

    /// The offset of the '\r' ending the line at `position`, once its '\n'
    /// has arrived too; nil if more bytes are needed.
    private mutating func lineEnd(_ input: UnsafeRawBufferPointer) -> Int? {
        var i = max(searched, position)
        while i < input.count, input[i] != UInt8(ascii: "\r") { i += 1 }
        searched = i
        // Redis checks for the '\n' by length only, and skips it unread.
        return i + 1 < input.count ? i : nil
    }

    private mutating func parseMultibulk(_ input: UnsafeRawBufferPointer) -> Outcome {
        if remaining < 0 {
            position = 0
            guard let end = lineEnd(input) else {
                return input.count > RequestLimits.maximumLineLength ? fail("too big mbulk count string") : .incomplete
            }
            let count = parseRedisInteger(UnsafeRawBufferPointer(rebasing: input[1..<end]))
            guard let count, count <= Int64(Int32.max), count <= Int64(limits.maximumArguments) else {
                return fail("invalid multibulk length")
            }
            if requireAuthentication && count > Int64(RequestLimits.unauthenticatedArguments) {
                return fail("unauthenticated multibulk length")
            }
            position = end + 2
            if count <= 0 { return finish(position) }
            remaining = Int(count)
            bulkLength = -1
        }
        while remaining > 0 {
            if bulkLength < 0 {
                guard let end = lineEnd(input) else {
                    return input.count - position > RequestLimits.maximumLineLength
                        ? fail("too big bulk count string") : .incomplete
                }
                let marker = input[position]
                guard marker == UInt8(ascii: "$") else {
                    return fail("expected '$', got '" + String(decoding: [marker], as: UTF8.self) + "'")
                }
                let length = parseRedisInteger(UnsafeRawBufferPointer(rebasing: input[(position + 1)..<end]))
                guard let length, length >= 0, length <= Int64(limits.maximumBulkLength) else {
                    return fail("invalid bulk length")
                }
                if requireAuthentication && length > Int64(RequestLimits.unauthenticatedBulkLength) {
                    return fail("unauthenticated bulk length")
                }
                position = end + 2
                bulkLength = Int(length)
            }
            guard input.count - position >= bulkLength + 2 else { return .incomplete }
            arguments.append(position..<(position + bulkLength))
            position += bulkLength + 2
            bulkLength = -1
            remaining -= 1
        }
        return finish(position)
    }

    private mutating func parseInline(_ input: UnsafeRawBufferPointer) -> Outcome {
        var end = max(searched, 0)
        // Redis finds the line end with strchr, which stops at a NUL: a NUL
        // before the '\n' hides it for good, and the line can only grow until
        // it is too big. The search stays at the NUL, so waiting costs nothing.
        while end < input.count, input[end] != UInt8(ascii: "\n"), input[end] != 0 { end += 1 }
        guard end < input.count, input[end] != 0 else {
            searched = end
            return input.count > RequestLimits.maximumLineLength ? fail("too big inline request") : .incomplete
        }
        searched = 0
        let lineLength = end > 0 && input[end - 1] == UInt8(ascii: "\r") ? end - 1 : end
        clearArguments()
        inlineBytes.removeAll(keepingCapacity: inlineBytes.capacity <= Self.keptInlineBytes)
        isInline = true
        guard splitInlineArguments(UnsafeRawBufferPointer(rebasing: input[0..<lineLength]),
                                   into: &inlineBytes, ranges: &arguments) else {
            clearArguments()
            return .protocolError("Protocol error: unbalanced quotes in request")
        }
        if requireAuthentication && arguments.count > RequestLimits.unauthenticatedArguments {
            return fail("unauthenticated multibulk length")
        }
        return .request(consumed: end + 1)
    }
}

/// Redis's string2ll: a decimal Int64 with no sign other than a leading
/// '-', no leading zeros, no spaces, at most 20 characters; nil otherwise.
/// Every integer a request carries is read this way.
public func parseRedisInteger(_ bytes: UnsafeRawBufferPointer) -> Int64? {
    let count = bytes.count
    guard count > 0, count <= 20 else { return nil }
    if count == 1, bytes[0] == UInt8(ascii: "0") { return 0 }
    var index = 0
    let negative = bytes[0] == UInt8(ascii: "-")
    if negative {
        index = 1
        guard count > 1 else { return nil }
    }
    guard bytes[index] >= UInt8(ascii: "1"), bytes[index] <= UInt8(ascii: "9") else { return nil }
    var magnitude: UInt64 = 0
    while index < count {
        let digit = bytes[index] &- UInt8(ascii: "0")
        guard digit <= 9 else { return nil }
        let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
        guard !overflow1, !overflow2 else { return nil }
        magnitude = sum
        index += 1
    }
    if negative {
        guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
        return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
    }
    guard magnitude <= UInt64(Int64.max) else { return nil }
    return Int64(magnitude)
}
