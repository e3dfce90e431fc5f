// The driver and a store's child process talk in JSON lines: the driver
// writes one command on the child's standard input, the child runs it and
// writes one reply on its standard output (histograms as their non-zero
// buckets). A child keeps its store for its whole life, so the store is
// preloaded once and every round after that finds it as the last left it.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A command from the driver to a child.
enum ChildCommand: Codable {
    /// Opens the child's store; must come first.
    case open(settings: BenchSettings, sizing: StoreSizing)
    /// Inserts keys from..<to (reply: WindowResult).
    case preload(from: Int, to: Int)
    /// Resident bytes per entry after the preload (reply: MemoryReport).
    case memory
    /// One round of a phase (reply: WindowResult).
    case phase(spec: PhaseSpec, label: String)
    /// One round of batched reads, a window per mode (reply: [WindowResult]).
    case batched(BatchedRequest)
    /// One expiry storm (reply: StormRound).
    case storm(StormRequest)
    /// Sets up churn on the store (reply: Done).
    case churnStart(churn: ChurnSettings, readers: PhaseSpec, readRecent: Int?)
    /// Runs churn until CLOCK_MONOTONIC reads `until` (reply: ChurnSlice).
    case churnSlice(until: UInt64, label: String)
    /// The store's entries, evictions and budgeted bytes (reply: StoreCounters).
    case counters
    /// Replays the trace in the file at `path` cache-aside from one thread
    /// (reply: ReplayResult).
    case replay(path: String)
    /// Closes the store and ends the child (reply: Done).
    case quit
}

/// The reply to a command that returns nothing.
struct Done: Codable {}

/// A child's reply: the command's result, or what went wrong.
struct ChildReply<Value: Codable>: Codable {
    var value: Value?
    var error: String?
}

/// An error a command reports.
struct BenchError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) { self.description = description }
}

/// Reads lines from a file descriptor.
final class LineReader {
    private let descriptor: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    init(_ descriptor: Int32) { self.descriptor = descriptor }

    /// The next line without its newline, or nil at end of file.
    func readLine() -> Data? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 10) {
                let line = Data(buffer[start..<newline])
                start = newline + 1
                return line
            }
            buffer.removeFirst(start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[..<count])
        }
    }
}

/// Writes `value` as one JSON line to standard output.
func writeLine(_ value: some Encodable) throws {
    var data = try JSONEncoder().encode(value)
    data.append(10)
    try FileHandle.standardOutput.write(contentsOf: data)
}

/// The child's side: runs each command on its store and replies, until
/// `quit` or the end of its input.
struct ChildSession: StoreUser {
    let settings: BenchSettings
    let name: String
    let commands: LineReader
    /// Resident memory before the store was opened.
    let baseline: Int

    func use<S: BenchStore>(_ store: S) throws {
        try writeLine(ChildReply(value: Done()))
        let bench = StoreBench(store: store, settings: settings, name: name)
        var churn: ChurnEngine<S>?
        while let line = commands.readLine() {
            let command = try JSONDecoder().decode(ChildCommand.self, from: line)
            switch command {
            case .open:
                try writeLine(ChildReply<Done>(error: "the store is already open"))
            case .preload(let from, let to):
                try writeLine(ChildReply(value: bench.preload(from..<to)))
            case .memory:
                try writeLine(ChildReply(value: bench.memory(baseline: baseline)))
            case .phase(let spec, let label):
                try writeLine(ChildReply(value: bench.phase(spec, label: label)))
            case .batched(let request):
                try writeLine(ChildReply(value: bench.batched(request)))
            case .storm(let request):
                try writeLine(ChildReply(value: bench.storm(request)))
            case .churnStart(let settings, let readers, let readRecent):
                churn = ChurnEngine(bench: bench, churn: settings, readers: readers, readRecent: readRecent, baseline: baseline)
                try writeLine(ChildReply(value: Done()))
            case .churnSlice(let until, let label):
                guard let churn else {
                    try writeLine(ChildReply<Done>(error: "churnSlice before churnStart"))
                    continue
                }
                try writeLine(ChildReply(value: churn.slice(until: until, label: label)))
            case .counters:
                try writeLine(ChildReply(value: bench.counters))
            case .replay(let path):
                try writeLine(ChildReply(value: bench.replay(try OracleTrace.read(path))))
            case .quit:
                store.close()
                try writeLine(ChildReply(value: Done()))
                return
            }
        }
    }
}

/// The driver's side: a store in its own long-lived child process.
final class StoreChild {
    let store: StoreChoice
    private let process = Process()
    private let input: FileHandle
    private let output: LineReader

    /// Starts a child running `ttlkv-bench child` and opens its store.
    init(_ store: StoreChoice, settings: BenchSettings, sizing: StoreSizing) throws {
        self.store = store
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = ["child", "--store", store.rawValue]
        let commands = Pipe(), replies = Pipe()
        process.standardInput = commands
        process.standardOutput = replies
        try process.run()
        input = commands.fileHandleForWriting
        output = LineReader(replies.fileHandleForReading.fileDescriptor)
        try call(.open(settings: settings, sizing: sizing), Done.self)
    }

    /// Sends `command` and waits for its reply.
    @discardableResult
    func call<Value: Codable>(_ command: ChildCommand, _ type: Value.Type) throws -> Value {
        var data = try JSONEncoder().encode(command)
        data.append(10)
        try input.write(contentsOf: data)
        guard let line = output.readLine() else {
            process.waitUntilExit()
            throw BenchError("the \(store.rawValue) child ended (status \(process.terminationStatus))")
        }
        let reply = try JSONDecoder().decode(ChildReply<Value>.self, from: line)
        guard let value = reply.value else {
            throw BenchError("the \(store.rawValue) child: \(reply.error ?? "no reply")")
        }
        return value
    }

    /// Closes the store and waits for the child to end.
    func quit() throws {
        try call(.quit, Done.self)
        process.waitUntilExit()
    }
}
