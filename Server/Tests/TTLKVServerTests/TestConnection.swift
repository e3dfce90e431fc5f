import NIOCore
import NIOEmbedded
@testable import TTLKVServer

/// A connection handler on an EmbeddedChannel, for tests that run requests
/// through the whole path; several may share one server.
final class TestConnection {
    let channel = EmbeddedChannel()
    let server: ServerContext
    private let ownsServer: Bool

    /// A connection to a server of its own, configured by `configure`.
    convenience init(_ configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var configuration = ServerConfiguration()
        configuration.capacity = 1024
        configure(&configuration)
        try self.init(server: ServerContext(configuration: configuration, eventLoops: []), ownsServer: true)
    }

    /// A connection to a server of its own publishing keyspace events
    /// `flags`, whose publishes wait for the end of each read however long
    /// it takes (a test that counts hand-overs, under ThreadSanitizer too).
    convenience init(countingHandOvers flags: String) throws {
        try self.init {
            $0.notifyKeyspaceEvents = flags
            $0.publishHoldNanoseconds = .max
        }
    }

    /// Another connection to the server of `other`.
    convenience init(sharing other: TestConnection) throws {
        try self.init(server: other.server, ownsServer: false)
    }

    private init(server: ServerContext, ownsServer: Bool) throws {
        self.server = server
        self.ownsServer = ownsServer
        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: server, logger: .init(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    }

    /// Sends text as one read and returns everything written back.
    func send(_ text: String) throws -> String {
        try channel.writeInbound(channel.allocator.buffer(string: text))
        channel.pipeline.fireChannelReadComplete()
        return try output()
    }

    /// Runs the tasks the event loop has (messages handed over by other
    /// connections) and returns everything written since the last call.
    func output() throws -> String {
        channel.embeddedEventLoop.run()
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

    deinit { if ownsServer { server.keyspace.close() } }
}

/// A request in RESP: an array of bulk strings.
func request(_ words: String...) -> String {
    request(words)
}

func request(_ words: [String]) -> String {
    "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
}
