import NIOCore
import NIOEmbedded
import Testing
@testable import TTLKVServer

/// A connection handler on an EmbeddedChannel: batching, errors that close,
/// back pressure, limits, and commands run through the whole path.
@Suite struct ConnectionTests {
    private final class Connection {
        let channel = EmbeddedChannel()
        let server: ServerContext

        init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
            var configuration = ServerConfiguration()
            configuration.capacity = 1024
            configure(&configuration)
            server = try ServerContext(configuration: configuration, eventLoops: [])
            try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: server, logger: .init(label: "test")))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        }

        /// Sends text as one read and returns everything written back.
        func send(_ text: String) throws -> String {
            try channel.writeInbound(channel.allocator.buffer(string: text))
            channel.pipeline.fireChannelReadComplete()
            var out = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
            return out
        }

        /// The number of writes the channel received since the last call.
        func writes() throws -> Int {
            var count = 0
            while try channel.readOutbound(as: ByteBuffer.self) != nil { count += 1 }
            return count
        }

        deinit { server.keyspace.close() }
    }

    private func command(_ words: String...) -> String {
        command(words)
    }

    private func command(_ words: [String]) -> String {
        "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }

    @Test func pipelineIsAnsweredInOneWrite() throws {
        let connection = try Connection()
        let batch = (0..<100).map { command("INCR", "n\($0 % 3)") }.joined()
        try connection.channel.writeInbound(connection.channel.allocator.buffer(string: batch))
        connection.channel.pipeline.fireChannelReadComplete()
        #expect(try connection.writes() == 1)
        #expect(try connection.send(command("GET", "n0")) == "$2\r\n34\r\n")
    }

    @Test func protocolErrorAnswersWhatCameBeforeThenCloses() throws {
        let connection = try Connection()
        #expect(try connection.send(command("PING") + "*1\r\n$x\r\n" + command("PING"))
            == "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n")
        #expect(!connection.channel.isActive)
    }

    @Test func quitClosesAfterItsReply() throws {
        let connection = try Connection()
        #expect(try connection.send(command("QUIT") + command("PING")) == "+OK\r\n")
        #expect(!connection.channel.isActive)
    }

    @Test func requestSplitAcrossReadsRunsOnce() throws {
        let connection = try Connection()
        let request = command("SET", "k", String(repeating: "v", count: 1000))
        let middle = request.index(request.startIndex, offsetBy: 500)
        #expect(try connection.send(String(request[..<middle])) == "")
        #expect(try connection.send(String(request[middle...])) == "+OK\r\n")
        #expect(try connection.send(command("STRLEN", "k")) == ":1000\r\n")
    }

    @Test func aClientThatDoesNotReadIsPaused() throws {
        let connection = try Connection()
        _ = try connection.send(command("SET", "big", String(repeating: "x", count: 40_000)))
        connection.channel.isWritable = false
        // Two GETs fill the 64 KiB flush threshold; the rest must wait.
        let gets = (0..<10).map { _ in command("GET", "big") }.joined()
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
        _ = try connection.send(command("SET", "v", String(repeating: "x", count: 1000)))
        connection.channel.isWritable = false
        // Batches far below the flush threshold: the first one's replies go
        // out, and with the channel still not writable nothing more runs.
        let batch = (0..<3).map { _ in command("GET", "v") }.joined()
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
        let pipeline = command("APPEND", "a", "x") + command("append", "a", "yy") + command("GET", "a")
            + command("APPEND", "b", "z") + command("APPEND", "a", "w") + command("APPEND", "a") + command("APPEND", "a", "v")
            + command("APPEND", "new", "") + command("EXISTS", "new")
        #expect(try connection.send(pipeline) == ":1\r\n:3\r\n$3\r\nxyy\r\n:1\r\n:4\r\n"
            + "-ERR wrong number of arguments for 'append' command\r\n:5\r\n:0\r\n:1\r\n")
        #expect(try connection.send(command("GET", "a") + command("GET", "b")) == "$5\r\nxyywv\r\n$1\r\nz\r\n")
    }

    @Test func pipelinedAppendsPastTheLimitFailOneByOne() throws {
        let connection = try Connection { $0.limits.maximumBulkLength = 8 }
        _ = try connection.send(command("SET", "k", "abc"))
        let pipeline = command("APPEND", "k", "xyzxyz") + command("APPEND", "k", "de") + command("APPEND", "k", "fgh")
            + command("APPEND", "k", "i") + command("APPEND", "k", "")
        let tooLarge = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        #expect(try connection.send(pipeline) == tooLarge + ":5\r\n:8\r\n" + tooLarge + ":8\r\n")
        #expect(try connection.send(command("GET", "k")) == "$8\r\nabcdefgh\r\n")
    }

    @Test func appendsBeforeAuthenticationAreRefused() throws {
        let connection = try Connection { $0.password = "secret" }
        #expect(try connection.send(command("APPEND", "k", "x") + command("APPEND", "k", "y"))
            == "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n")
        #expect(try connection.send(command("AUTH", "secret") + command("APPEND", "k", "x") + command("APPEND", "k", "y")
            + command("QUIT")) == "+OK\r\n:1\r\n:2\r\n+OK\r\n")
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
        #expect(try connection.send(command("GET", "k")) == "-NOAUTH Authentication required.\r\n")
        #expect(try connection.send(command("NOSUCH")) .hasPrefix("-ERR unknown command 'NOSUCH'"))
        #expect(try connection.send(command("AUTH", "wrong")) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(try connection.send(command("AUTH", "default", "secret")) == "+OK\r\n")
        #expect(try connection.send(command("GET", "k")) == "$-1\r\n")
    }

    @Test func aLargeRequestRightBehindAuthInOneRead() throws {
        let connection = try Connection { $0.password = "secret" }
        let mset = command(["MSET"] + (0..<10).map { "k\($0)" })
        #expect(try connection.send(command("AUTH", "secret") + mset) == "+OK\r\n+OK\r\n")
        let other = try Connection { $0.password = "secret" }
        let big = command("SET", "big", String(repeating: "x", count: 20_000))
        #expect(try other.send(command("HELLO", "2", "AUTH", "default", "secret") + big).hasSuffix("+OK\r\n"))
        #expect(try other.send(command("STRLEN", "big")) == ":20000\r\n")
    }

    @Test func helloSwitchesToResp3() throws {
        let connection = try Connection()
        let hello = try connection.send(command("HELLO", "3"))
        #expect(hello.hasPrefix("%7\r\n$6\r\nserver\r\n"))
        #expect(try connection.send(command("GET", "none")) == "_\r\n")
        #expect(try connection.send(command("HELLO", "4")) == "-NOPROTO unsupported protocol version\r\n")
    }

    @Test func maximumClientsRefusesTheNext() throws {
        let first = try Connection { $0.maximumClients = 1 }
        #expect(try first.send(command("PING")) == "+PONG\r\n")
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
        try connection.channel.writeInbound(connection.channel.allocator.buffer(string: command("PING")))
        connection.channel.pipeline.fireUserInboundEventTriggered(ShutdownEvent())
        #expect(String(buffer: try connection.channel.readOutbound(as: ByteBuffer.self)!) == "+PONG\r\n")
        #expect(!connection.channel.isActive)
    }
}
