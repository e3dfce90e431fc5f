import NIOCore
import Testing
@testable import TTLKVServer

@Suite struct RepliesTests {
    private func encode(resp3: Bool = false, _ write: (inout Replies) -> Void) -> String {
        var replies = Replies(allocator: ByteBufferAllocator())
        replies.resp3 = resp3
        write(&replies)
        return String(buffer: replies.buffer)
    }

    @Test func resp2() {
        #expect(encode { $0.ok() } == "+OK\r\n")
        #expect(encode { $0.integer(Int64.min) } == ":-9223372036854775808\r\n")
        #expect(encode { $0.integer(0) } == ":0\r\n")
        #expect(encode { $0.bulk("héllo") } == "$6\r\nhéllo\r\n")
        #expect(encode { $0.bulk(decimal: 1234567) } == "$7\r\n1234567\r\n")
        #expect(encode { $0.null() } == "$-1\r\n")
        #expect(encode { $0.arrayHeader(2) } == "*2\r\n")
        #expect(encode { $0.mapHeader(2) } == "*4\r\n")
        #expect(encode { $0.verbatim("a:b") } == "$3\r\na:b\r\n")
        // Line breaks in an error would end the reply early.
        #expect(encode { $0.error("ERR bad\r\nthing") } == "-ERR bad  thing\r\n")
    }

    @Test func resp3() {
        #expect(encode(resp3: true) { $0.null() } == "_\r\n")
        #expect(encode(resp3: true) { $0.mapHeader(2) } == "%2\r\n")
        #expect(encode(resp3: true) { $0.verbatim("a:b") } == "=7\r\ntxt:a:b\r\n")
    }

    @Test func humanSizes() {
        #expect(humanBytes(1023) == "1023B")
        #expect(humanBytes(1536) == "1.50K")
        #expect(humanBytes(5 << 20) == "5.00M")
    }
}
