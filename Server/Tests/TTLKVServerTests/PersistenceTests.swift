import NIOCore
import NIOEmbedded
import Testing
@testable import TTLKVServer

/// The save directive as Redis reads it, the keys a write counts as
/// changes, and the gate while the snapshot loads, on an EmbeddedChannel.
@Suite struct PersistenceTests {
    @Test func saveRulesParseAsRedisReadsTheSaveDirective() {
        #expect(SaveRule.parse("3600 1 300 100 60 10000") == SaveRule.redisDefaults)
        #expect(SaveRule.parse("") == [])
        #expect(SaveRule.parse("  900   1 ") == [SaveRule(seconds: 900, changes: 1)])
        #expect(SaveRule.parse("60 0") == [SaveRule(seconds: 60, changes: 0)])
        for bad in ["60", "x 1", "0 1", "60 -1", "60 1 300", "1.5 1", "60 1x"] {
            #expect(SaveRule.parse(bad) == nil, "\(bad)")
        }
        #expect(SaveRule.text(SaveRule.redisDefaults) == "3600 1 300 100 60 10000")
        #expect(SaveRule.text([]) == "")
    }

    /// Redis's condition: strictly more seconds than the rule's, and at
    /// least its changes.
    @Test func aRuleIsDueAfterMoreSecondsThanItsOwn() {
        let rule = SaveRule(seconds: 60, changes: 10)
        #expect(!rule.isDue(elapsed: 60, changes: 10))
        #expect(rule.isDue(elapsed: 61, changes: 10))
        #expect(!rule.isDue(elapsed: 3600, changes: 9))
        #expect(SaveRule(seconds: 1, changes: 0).isDue(elapsed: 2, changes: 0))
    }

    @Test func badPersistenceSettingsAreProblems() {
        var configuration = ServerConfiguration()
        #expect(configuration.problem == nil)
        configuration.snapshotFileName = "a/dump.rdb"
        #expect(configuration.problem?.contains("dbfilename") == true)
        configuration.snapshotFileName = "dump.rdb"
        configuration.saveRules = [SaveRule(seconds: 0, changes: 1)]
        #expect(configuration.problem?.contains("save") == true)
        configuration.saveRules = []
        configuration.snapshotDirectory = "/data/"
        #expect(configuration.snapshotPath == "/data/dump.rdb")
        configuration.snapshotDirectory = "/data"
        #expect(configuration.snapshotPath == "/data/dump.rdb")
    }

    /// What a write adds to the changes: the keys it names.
    @Test func aWriteCountsTheKeysItNames() throws {
        func keys(_ name: String, _ count: Int) -> Int? {
            CommandTable.command(named: name)?.keyCount(argumentCount: count)
        }
        #expect(keys("set", 3) == 1)
        #expect(keys("mset", 7) == 3)
        #expect(keys("del", 4) == 3)
        #expect(keys("flushall", 1) == 1)
        #expect(CommandTable.command(named: "set")?.isWrite == true)
        #expect(CommandTable.command(named: "get")?.isWrite == false)
    }

    /// While the snapshot loads, commands without Redis's `loading` flag get
    /// LOADING (PING too); INFO, ECHO, CONFIG GET, LASTSAVE answer.
    @Test func whileLoadingOnlyLoadingCommandsRun() throws {
        var configuration = ServerConfiguration()
        configuration.capacity = 1024
        configuration.snapshotDirectory = "/nonexistent"
        let server = try ServerContext(configuration: configuration, eventLoops: [], loadingSnapshot: true)
        defer { server.keyspace.close() }
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(server: server, logger: .init(label: "test")))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        func send(_ words: [String]) throws -> String {
            let request = "*\(words.count)\r\n" + words.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
            try channel.writeInbound(channel.allocator.buffer(string: request))
            channel.pipeline.fireChannelReadComplete()
            var out = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
            return out
        }
        let loading = "-LOADING Redis is loading the dataset in memory\r\n"
        for words in [["PING"], ["GET", "k"], ["SET", "k", "v"], ["DBSIZE"], ["SAVE"], ["BGSAVE"], ["FLUSHALL"]] {
            #expect(try send(words) == loading, "\(words)")
        }
        #expect(try send(["ECHO", "x"]) == "$1\r\nx\r\n")
        #expect(try send(["CONFIG", "GET", "dbfilename"]) == "*2\r\n$10\r\ndbfilename\r\n$8\r\ndump.rdb\r\n")
        #expect(try send(["INFO", "persistence"]).contains("loading:1\r\n"))
        #expect(try send(["LASTSAVE"]).hasPrefix(":"))
        #expect(try send(["SHUTDOWN", "ABORT"]) == "-ERR No shutdown in progress.\r\n")
        _ = try channel.finish()
    }
}

