import Synchronization
import Testing
@testable import TTLKVServer

/// A shutdown asked for before the server has said how to shut down (a
/// SHUTDOWN from a client that connected while the server was starting) is
/// not lost: it runs as soon as the handler is set.
@Suite struct ServerContextTests {
    @Test func aShutdownRequestedEarlyRunsOnceTheHandlerIsSet() throws {
        var configuration = ServerConfiguration()
        configuration.capacity = 1024
        let context = try ServerContext(configuration: configuration, eventLoops: [])
        defer { context.keyspace.close() }
        let runs = Atomic<Int>(0)
        context.requestShutdown()
        context.onShutdownRequest { runs.add(1, ordering: .relaxed) }
        #expect(runs.load(ordering: .relaxed) == 1)
        context.requestShutdown()
        #expect(runs.load(ordering: .relaxed) == 2)
    }
}
