import Testing
@testable import TTLKVServer

/// The request parser against Redis 7's behaviour (checked side by side
/// with redis-server; the differential test covers the rest).
@Suite struct RequestParserTests {
    /// Parses every request in `input`, in whatever pieces `chunk` cuts it
    /// into, the way a connection feeds a parser; returns the argument lists
    /// and the protocol error, if any.
    private func parseAll(_ input: [UInt8], chunk: Int = .max, limits: RequestLimits = .init(),
                          unauthenticated: Bool = false) -> (requests: [[String]], error: String?) {
        var parser = RequestParser(limits: limits)
        parser.requireAuthentication = unauthenticated
        var requests: [[String]] = []
        var start = 0, available = 0
        while available < input.count {
            available = min(input.count, available + chunk)
            while start < available {
                let outcome = input[start..<available].withUnsafeBytes { parser.parse($0) }
                switch outcome {
                case .incomplete:
                    break
                case .protocolError(let message):
                    return (requests, message)
                case .request(let consumed):
                    let arguments = parser.isInline
                        ? parser.arguments.map { String(decoding: parser.inlineBytes[$0], as: UTF8.self) }
                        : parser.arguments.map { String(decoding: input[(start + $0.lowerBound)..<(start + $0.upperBound)], as: UTF8.self) }
                    if !arguments.isEmpty { requests.append(arguments) }
                    start += consumed
                    continue
                }
                break
            }
        }
        return (requests, nil)
    }

    private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func multibulkPipelineInAnyPieces() {
        let input = bytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$0\r\n\r\n")
        let expected = [["SET", "k", "hello"], ["GET", "k"], [""]]
        for chunk in [1, 2, 3, 7, 1000] {
            let parsed = parseAll(input, chunk: chunk)
            #expect(parsed.error == nil)
            #expect(parsed.requests == expected, "chunk \(chunk)")
        }
    }

    @Test func emptyRequestsAreSkipped() {
        #expect(parseAll(bytes("*0\r\n*-1\r\n\r\n\r\nPING\r\n")).requests == [["PING"]])
    }

    @Test func bytesAfterABulkAreSkippedUnread() {
        // Redis skips the two bytes after a bulk without checking them.
        #expect(parseAll(bytes("*1\r\n$4\r\nPINGXX*1\r\n$4\r\nPING\r\n")).requests == [["PING"], ["PING"]])
    }

    @Test func inlineCommandsSplitLikeRedis() {
        let parsed = parseAll(bytes("set a \"b c\"\r\n  PING  hello \r\necho 'a\\'b'\necho \"\\x41\\n\"\r\n"))
        #expect(parsed.requests == [["set", "a", "b c"], ["PING", "hello"], ["echo", "a'b"], ["echo", "A\n"]])
        for broken in ["get \"a\r\n", "get 'a\r\n", "get \"a\"b\r\n"] {
            #expect(parseAll(bytes(broken)).error == "Protocol error: unbalanced quotes in request")
        }
    }

    @Test func aNULHidesTheEndOfAnInlineLine() {
        // Redis looks for the line end with strchr, which stops at a NUL: the
        // line never ends, and once it passes 64 KiB it is too big.
        for chunk in [1, 5, 1000, .max] {
            #expect(parseAll(bytes("PING\0\r\nPING\r\n"), chunk: chunk) == ([], nil))
            #expect(parseAll(bytes("PING\r\nGET \0k\r\n"), chunk: chunk) == ([["PING"]], nil))
        }
        let long = bytes("SET k v\0") + [UInt8](repeating: UInt8(ascii: "x"), count: 70_000) + bytes("\r\n")
        #expect(parseAll(long) == ([], "Protocol error: too big inline request"))
        #expect(parseAll(long, chunk: 4096) == ([], "Protocol error: too big inline request"))
        // Inside a bulk string a NUL is just a byte.
        #expect(parseAll(bytes("*1\r\n$3\r\na\0b\r\n")).requests == [["a\0b"]])
    }

    @Test func protocolErrorsCarryRedisWording() {
        let cases: [(String, String)] = [
            ("*x\r\n", "invalid multibulk length"),
            ("*+1\r\n", "invalid multibulk length"),
            ("*12345678901\r\n", "invalid multibulk length"),
            ("*1\r\n$x\r\n", "invalid bulk length"),
            ("*1\r\n$-1\r\n", "invalid bulk length"),
            ("*1\r\n$ 4\r\n", "invalid bulk length"),
            ("*1\r\n$600000000\r\n", "invalid bulk length"),
            ("*1\r\nfoo\r\n", "expected '$', got 'f'"),
            ("*1\r\n:4\r\n", "expected '$', got ':'"),
        ]
        for (input, message) in cases {
            #expect(parseAll(bytes(input)).error == "Protocol error: " + message, "\(input.debugDescription)")
        }
        let longLine = [UInt8](repeating: UInt8(ascii: "x"), count: 70_000)
        #expect(parseAll(longLine).error == "Protocol error: too big inline request")
        #expect(parseAll(bytes("*") + [UInt8](repeating: UInt8(ascii: "1"), count: 70_000)).error
            == "Protocol error: too big mbulk count string")
        #expect(parseAll(bytes("*1\r\n$") + [UInt8](repeating: UInt8(ascii: "1"), count: 70_000)).error
            == "Protocol error: too big bulk count string")
    }

    @Test func limitsAreCheckedBeforeBuffering() {
        let limits = RequestLimits(maximumBulkLength: 100, maximumArguments: 3)
        #expect(parseAll(bytes("*1\r\n$101\r\n"), limits: limits).error == "Protocol error: invalid bulk length")
        #expect(parseAll(bytes("*4\r\n"), limits: limits).error == "Protocol error: invalid multibulk length")
        #expect(parseAll(bytes("*1\r\n$100\r\n"), limits: limits).error == nil)
        #expect(parseAll(bytes("*11\r\n"), unauthenticated: true).error == "Protocol error: unauthenticated multibulk length")
        #expect(parseAll(bytes("*2\r\n$20000\r\n"), unauthenticated: true).error == "Protocol error: unauthenticated bulk length")
        #expect(parseAll(bytes("*10\r\n"), unauthenticated: true).error == nil)
    }

    @Test func aLengthLineArrivingByteByByteEndsAtTheLimit() {
        // A slow client feeding a length line one byte per read: incomplete
        // until the line passes 64 KiB, then an error (never a crash or an
        // unbounded buffer). The parser resumes its search where it stopped.
        var parser = RequestParser()
        let input = bytes("*1\r\n$") + [UInt8](repeating: UInt8(ascii: "1"), count: 66_000)
        var outcomes: [RequestParser.Outcome] = []
        for end in 1...input.count {
            let outcome = input[0..<end].withUnsafeBytes { parser.parse($0) }
            if outcome != .incomplete {
                outcomes.append(outcome)
                break
            }
        }
        #expect(outcomes == [.protocolError("Protocol error: too big bulk count string")])
    }

    @Test func aLargeRequestsRoomIsGivenBack() {
        var parser = RequestParser()
        let count = 100_000
        let request = bytes("*\(count)\r\n") + Array(repeating: bytes("$1\r\nk\r\n"), count: count).joined()
        #expect(request.withUnsafeBytes { parser.parse($0) } == .request(consumed: request.count))
        #expect(parser.arguments.count == count)
        parser.releaseExcess()
        #expect(parser.arguments.capacity <= RequestParser.keptArguments)
        // The next large request, in progress: its arguments so far are kept.
        let half = Array(request[..<(request.count / 2)])
        #expect(half.withUnsafeBytes { parser.parse($0) } == .incomplete)
        parser.releaseExcess()
        #expect(request.withUnsafeBytes { parser.parse($0) } == .request(consumed: request.count))
        #expect(parser.arguments.count == count)
        // A long inline line's bytes go too.
        let line = bytes("ECHO " + String(repeating: "x", count: 60_000) + "\r\n")
        #expect(line.withUnsafeBytes { parser.parse($0) } == .request(consumed: line.count))
        parser.releaseExcess()
        #expect(parser.inlineBytes.capacity <= RequestParser.keptInlineBytes)
    }

    @Test func integersAreReadAsRedisReadsThem() {
        func parse(_ text: String) -> Int64? { Array(text.utf8).withUnsafeBytes { parseRedisInteger($0) } }
        #expect(parse("0") == 0)
        #expect(parse("-1") == -1)
        #expect(parse("9223372036854775807") == .max)
        #expect(parse("-9223372036854775808") == .min)
        for bad in ["", "-", "01", "-0", "+1", " 1", "1 ", "1.5", "9223372036854775808", "-9223372036854775809", "abc"] {
            #expect(parse(bad) == nil, "\(bad)")
        }
    }
}
