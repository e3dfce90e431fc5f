import NIOCore
import NIOEmbedded
import Testing
@testable import TTLKVServer

/// A connection handler on an EmbeddedChannel: batching, errors that close,
/// back pressure, limits, and commands run through the whole path.
@Suite struct ConnectionTests {
    private typealias Connection = TestConnection

    @Test func pipelineIsAnsweredInOneWrite() throws {
        let connection = try Connection()
        let batch = (0..<100).map { request("INCR", "n\($0 % 3)") }.joined()
        try connection.channel.writeInbound(connection.channel.allocator.buffer(string: batch))
        connection.channel.pipeline.fireChannelReadComplete()
        #expect(try connection.writes() == 1)
        #expect(try connection.send(request("GET", "n0")) == "$2\r\n34\r\n")
    }

    @Test func protocolErrorAnswersWhatCameBeforeThenCloses() throws {
        let connection = try Connection()
        #expect(try connection.send(request("PING") + "*1\r\n$x\r\n" + request("PING"))
            == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        #expect(!connection.channel.isActive)
    }

    @Test func quitClosesAfterItsReply() throws {
        let connection = try Connection()
        #expect(try connection.send(request("QUIT") + request("PING")) == "+OK\r\n")
        #expect(!connection.channel.isActive)
    }

    @Test func requestSplitAcrossReadsRunsOnce() throws {
        let connection = try Connection()
        let set = request("SET", "k", String(repeating: "v", count: 1000))
        let middle = set.index(set.startIndex, offsetBy: 500)
        #expect(try connection.send(String(set[..<middle])) == "")
        #expect(try connection.send(String(set[middle...])) == "+OK\r\n")
        #expect(try connection.send(request("STRLEN", "k")) == ":1000\r\n")
    }

    @Test func aClientThatDoesNotReadIsPaused() throws {
        let connection = try Connection()
        _ = try connection.send(request("SET", "big", String(repeating: "x", count: 40_000)))
        connection.channel.isWritable = false
        // Two GETs fill the 64 KiB flush threshold; the rest must wait.
        let gets = (0..<10).map { _ in request("GET", "big") }.joined()
        let out = try connection.send(gets)
        #expect(out.utf8.count < 3 * 40_020)
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        var rest = ""
        while let buffer = try connection.channel.readOutbound(as: ByteBuffer.self) { rest += String(buffer: buffer) }
        #expect(out.utf8.count + rest.utf8.count == 10 * (40_000 + 10))
    }

    @Test func aClientThatDoesNotReadIsPausedWhateverItsPace() throws {
        let connection = try Connection()
        _ = try connection.send(request("SET", "v", String(repeating: "x", count: 1000)))
        connection.channel.isWritable = false
        // Batches far below the flush threshold: the first one's replies go
        // out, and with the channel still not writable nothing more runs.
        let batch = (0..<3).map { _ in request("GET", "v") }.joined()
        #expect(try connection.send(batch).utf8.count == 3 * 1009)
        for _ in 0..<10 { #expect(try connection.send(batch) == "") }
        connection.channel.isWritable = true
        connection.channel.pipeline.fireChannelWritabilityChanged()
        var rest = 0
        while let buffer = try connection.channel.readOutbound(as: ByteBuffer.self) { rest += buffer.readableBytes }
        #expect(rest == 30 * 1009)
    }

    @Test func pipelinedAppendsKeepTheirOrderAndReplies() throws {
        let connection = try Connection()
        let pipeline = request("APPEND", "a", "x") + request("append", "a", "yy") + request("GET", "a")
            + request("APPEND", "b", "z") + request("APPEND", "a", "w") + request("APPEND", "a") + request("APPEND", "a", "v")
            + request("APPEND", "new", "") + request("EXISTS", "new")
        #expect(try connection.send(pipeline) == ":1\r\n:3\r\n$3\r\nxyy\r\n:1\r\n:4\r\n"
            + "-ERR wrong number of arguments for 'append' command\r\n:5\r\n:0\r\n:1\r\n")
        #expect(try connection.send(request("GET", "a") + request("GET", "b")) == "$5\r\nxyywv\r\n$1\r\nz\r\n")
    }

    @Test func pipelinedAppendsPastTheLimitFailOneByOne() throws {
        let connection = try Connection { $0.limits.maximumBulkLength = 8 }
        _ = try connection.send(request("SET", "k", "abc"))
        let pipeline = request("APPEND", "k", "xyzxyz") + request("APPEND", "k", "de") + request("APPEND", "k", "fgh")
            + request("APPEND", "k", "i") + request("APPEND", "k", "")
        let tooLarge = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        #expect(try connection.send(pipeline) == tooLarge + ":5\r\n:8\r\n" + tooLarge + ":8\r\n")
        #expect(try connection.send(request("GET", "k")) == "$8\r\nabcdefgh\r\n")
    }

    @Test func appendsBeforeAuthenticationAreRefused() throws {
        let connection = try Connection { $0.password = "secret" }
        #expect(try connection.send(request("APPEND", "k", "x") + request("APPEND", "k", "y"))
            == "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n")
        #expect(try connection.send(request("AUTH", "secret") + request("APPEND", "k", "x") + request("APPEND", "k", "y")
            + request("QUIT")) == "+OK\r\n:1\r\n:2\r\n+OK\r\n")
    }

    @Test func queryBufferLimitCloses() throws {
        let connection = try Connection { $0.queryBufferLimit = 1 << 20 }
        _ = try connection.send("*1\r\n$\(600_000)\r\n" + String(repeating: "x", count: 500_000))
        #expect(connection.channel.isActive)
        _ = try connection.send(String(repeating: "x", count: 600_000))
        #expect(!connection.channel.isActive)
    }

    @Test func passwordIsRequired() throws {
        let connection = try Connection { $0.password = "secret" }
        #expect(try connection.send(request("GET", "k")) == "-NOAUTH Authentication required.\r\n")
        #expect(try connection.send(request("NOSUCH")) .hasPrefix("-ERR unknown command 'NOSUCH'"))
        #expect(try connection.send(request("AUTH", "wrong")) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(try connection.send(request("AUTH", "default", "secret")) == "+OK\r\n")
        #expect(try connection.send(request("GET", "k")) == "$-1\r\n")
    }

    @Test func aLargeRequestRightBehindAuthInOneRead() throws {
        let connection = try Connection { $0.password = "secret" }
        let mset = request(["MSET"] + (0..<10).map { "k\($0)" })
        #expect(try connection.send(request("AUTH", "secret") + mset) == "+OK\r\n+OK\r\n")
        let other = try Connection { $0.password = "secret" }
        let big = request("SET", "big", String(repeating: "x", count: 20_000))
        #expect(try other.send(request("HELLO", "2", "AUTH", "default", "secret") + big).hasSuffix("+OK\r\n"))
        #expect(try other.send(request("STRLEN", "big")) == ":20000\r\n")
    }

    @Test func helloSwitchesToResp3() throws {
        let connection = try Connection()
        let hello = try connection.send(request("HELLO", "3"))
        #expect(hello.hasPrefix("%7\r\n$6\r\nserver\r\n"))
        #expect(try connection.send(request("GET", "none")) == "_\r\n")
        #expect(try connection.send(request("HELLO", "4")) == "-NOPROTO unsupported protocol version\r\n")
    }

    @Test func maximumClientsRefusesTheNext() throws {
        let first = try Connection { $0.maximumClients = 1 }
        #expect(try first.send(request("PING")) == "+PONG\r\n")
        let second = EmbeddedChannel()
        try second.pipeline.syncOperations.addHandler(ConnectionHandler(server: first.server, logger: .init(label: "test")))
        try second.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        var out = ""
        while let buffer = try second.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
        #expect(out == "-ERR max number of clients reached\r\n")
        #expect(!second.isActive)
    }

    @Test func shutdownEventClosesAfterPendingReplies() throws {
        let connection = try Connection()
        try connection.channel.writeInbound(connection.channel.allocator.buffer(string: request("PING")))
        connection.channel.pipeline.fireUserInboundEventTriggered(ShutdownEvent())
        #expect(String(buffer: try connection.channel.readOutbound(as: ByteBuffer.self)!) == "+PONG\r\n")
        #expect(!connection.channel.isActive)
    }
}
