/// One of Redis's `save` points: start a background save once `seconds`
/// have passed since the last successful one and at least `changes`
/// writes were made since.
public struct SaveRule: Sendable, Equatable {
    /// Seconds since the last save, at least 1.
    public var seconds: Int
    /// Changes since the last save, at least 0 (0: save every `seconds`).
    public var changes: Int

    /// A rule; see ``ServerConfiguration/problem`` for the bounds.
    public init(seconds: Int, changes: Int) {
        self.seconds = seconds
        self.changes = changes
    }

    /// Redis 7's default: after an hour if anything changed, after 5
    /// minutes if 100 keys did, after a minute if 10,000 did.
    public static let redisDefaults = [
        SaveRule(seconds: 3600, changes: 1), SaveRule(seconds: 300, changes: 100), SaveRule(seconds: 60, changes: 10_000),
    ]

    /// The rules of a `save` directive's value, "seconds changes" pairs
    /// separated by spaces ("3600 1 300 100"); "" gives none. Nil for
    /// anything else, as Redis refuses it ("Invalid save parameters"): an odd
    /// count, a word that is not a number, seconds below 1, changes below 0.
    public static func parse(_ text: String) -> [SaveRule]? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true)
        guard words.count % 2 == 0 else { return nil }
        var rules: [SaveRule] = []
        for index in stride(from: 0, to: words.count, by: 2) {
            guard let seconds = Int(words[index]), let changes = Int(words[index + 1]) else { return nil }
            let rule = SaveRule(seconds: seconds, changes: changes)
            guard rule.isValid else { return nil }
            rules.append(rule)
        }
        return rules
    }

    /// The rules as a `save` directive's value, as CONFIG GET shows them.
    public static func text(_ rules: [SaveRule]) -> String {
        rules.map { "\($0.seconds) \($0.changes)" }.joined(separator: " ")
    }

    var isValid: Bool { seconds >= 1 && changes >= 0 }

    /// Whether the rule asks for a save `elapsed` seconds after the last
    /// one, with `changes` since (Redis: strictly more seconds than the rule's).
    func isDue(elapsed: Int, changes: Int) -> Bool {
        elapsed > seconds && changes >= self.changes
    }
}
