import Synchronization

/// Redis's `client-output-buffer-limit` for the pub/sub class: a subscriber
/// whose unsent output reaches `hardBytes`, or stays at `softBytes` or more
/// for longer than `softSeconds`, is disconnected. 0 turns a limit off.
/// Default `pubsub 32mb 8mb 60`, as Redis.
public struct OutputBufferLimit: Sendable, Equatable {
    public var hardBytes: Int
    public var softBytes: Int
    public var softSeconds: Int

    public init(hardBytes: Int = 32 << 20, softBytes: Int = 8 << 20, softSeconds: Int = 60) {
        self.hardBytes = hardBytes
        self.softBytes = softBytes
        self.softSeconds = softSeconds
    }

    /// The pubsub limit that text sets, in Redis's syntax (see
    /// ``parse(_:current:)``): `pubsub 32mb 8mb 60`. Throws a
    /// ``ServerError`` with Redis's message if it is malformed.
    public init(parsing text: String) throws {
        switch Self.parse(text, current: OutputBufferLimit()) {
        case .success(let limit): self = limit
        case .failure(let error): throw ServerError("client-output-buffer-limit: \(error)")
        }
    }

    /// Parses Redis's syntax, `<class> <hard> <soft> <seconds>` repeated,
    /// with memory units (`32mb`, `8gb`, `1k`, ...). Only the pubsub class
    /// has a limit here: a normal client is held back by back pressure
    /// instead, so `normal` is accepted only as `0 0 0`; `replica` (alias
    /// `slave`) is accepted, and applies to nobody: there are no replicas.
    /// Returns the pubsub limit (`current` if the text names none), or
    /// Redis's error message.
    static func parse(_ text: String, current: OutputBufferLimit) -> Result<OutputBufferLimit, ConfigError> {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard words.count % 4 == 0 else { return .failure(ConfigError("Wrong number of arguments in buffer limit configuration.")) }
        var limit = current
        for start in stride(from: 0, to: words.count, by: 4) {
            let kind = words[start].lowercased()
            guard ["normal", "replica", "slave", "pubsub"].contains(kind) else {
                return .failure(ConfigError("Invalid client class specified in buffer limit configuration."))
            }
            guard let hard = parseMemory(words[start + 1]), let soft = parseMemory(words[start + 2]),
                  let seconds = Int(words[start + 3]), seconds >= 0
            else {
                return .failure(ConfigError("Error in hard, soft or soft_seconds setting in buffer limit configuration."))
            }
            switch kind {
            case "pubsub": limit = OutputBufferLimit(hardBytes: hard, softBytes: soft, softSeconds: seconds)
            case "normal" where hard != 0 || soft != 0 || seconds != 0:
                return .failure(ConfigError("normal clients have no output buffer limit here (back pressure holds them); use 0 0 0."))
            default: break
            }
        }
        return .success(limit)
    }

    /// As CONFIG GET prints it (Redis's three classes, in bytes).
    var description: String {
        "normal 0 0 0 slave 268435456 67108864 60 pubsub \(hardBytes) \(softBytes) \(softSeconds)"
    }
}

/// Redis's memtoll: a byte count with an optional unit, k/kb/m/mb/g/gb
/// (k = 1000, kb = 1024, ...), case-insensitive; nil if malformed.
func parseMemory(_ text: String) -> Int? {
    let lower = text.lowercased()
    let units: [(String, Int)] = [("kb", 1024), ("mb", 1 << 20), ("gb", 1 << 30), ("k", 1000), ("m", 1_000_000), ("g", 1_000_000_000), ("b", 1)]
    var digits = Substring(lower)
    var multiplier = 1
    for (suffix, value) in units where lower.hasSuffix(suffix) {
        digits = lower.dropLast(suffix.count)
        multiplier = value
        break
    }
    guard let number = Int(digits), number >= 0 else { return nil }
    let (bytes, overflow) = number.multipliedReportingOverflow(by: multiplier)
    return overflow ? nil : bytes
}

/// The limit in force, changed by CONFIG SET while subscribers check it.
final class OutputBufferLimitSetting: Sendable {
    private let hard: Atomic<Int>
    private let soft: Atomic<Int>
    private let seconds: Atomic<Int>
    /// Subscribers disconnected for passing the limit (INFO).
    let disconnections = Atomic<Int>(0)

    init(_ limit: OutputBufferLimit) {
        hard = Atomic(limit.hardBytes)
        soft = Atomic(limit.softBytes)
        seconds = Atomic(limit.softSeconds)
    }

    var value: OutputBufferLimit {
        get {
            OutputBufferLimit(hardBytes: hard.load(ordering: .relaxed), softBytes: soft.load(ordering: .relaxed),
                              softSeconds: seconds.load(ordering: .relaxed))
        }
        set {
            hard.store(newValue.hardBytes, ordering: .relaxed)
            soft.store(newValue.softBytes, ordering: .relaxed)
            seconds.store(newValue.softSeconds, ordering: .relaxed)
        }
    }
}
