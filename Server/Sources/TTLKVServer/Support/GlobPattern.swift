/*
 Glob patterns, as SCAN MATCH reads them (Redis's stringmatchlen): `*` any
 run of bytes, `?` any one byte, `[abc]`, `[^abc]` and `[a-z]` classes,
 `\x` the byte x itself. Matching is case-sensitive and byte-wise.

 Redis matches by recursion on every `*`, which is exponential on patterns
 like `*a*a*a*b`; here the classic two-pointer walk is used instead: on a
 mismatch after a `*`, retry from the byte after the last `*` one byte
 further on. Only the last `*` matters, because whatever an earlier `*`
 could absorb, the later one can too, so the walk is O(pattern x key).

 A pattern of literal bytes and `*` only (`__key*__:*`, `user:*`: what
 PSUBSCRIBE and SCAN MATCH mostly get) needs no walk: the text must begin
 with the bytes before the first `*` and end with those after the last,
 and each run of bytes between two stars, found leftmost after the run
 before it, leaves the most room for the runs after. A publish matches
 every pattern against every channel, so this is on the write path of
 every keyspace notification.
 */

#if canImport(Glibc)
import Glibc
#endif

/// A compiled SCAN MATCH pattern.
struct GlobPattern {
    private let pattern: [UInt8]
    /// Whether the pattern has no `?`, `[` or `\`: only literal bytes and `*`.
    private let starsOnly: Bool

    init(_ pattern: UnsafeRawBufferPointer) {
        self.init(Array(pattern))
    }

    init(_ pattern: [UInt8]) {
        self.pattern = pattern
        starsOnly = Self.isStarsOnly(pattern)
    }

    init(_ pattern: String) {
        self.init(Array(pattern.utf8))
    }

    /// Whether the pattern is `*`: everything matches.
    var matchesEverything: Bool { pattern == [UInt8(ascii: "*")] }

    /// Whether text matches, as Redis's stringmatchlen answers: an empty
    /// text matches only the empty pattern (not even `*`; SCAN, KEYS and
    /// CONFIG GET test for a lone `*` before they match).
    func matches(_ text: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { Self.matches($0, starsOnly: starsOnly, text) }
    }

    /// Whether text matches pattern, as ``matches(_:)`` answers, for a
    /// caller that keeps the pattern's bytes itself; starsOnly is what
    /// ``isStarsOnly(_:)`` says of them.
    static func matches(_ pattern: UnsafeRawBufferPointer, starsOnly: Bool, _ text: UnsafeRawBufferPointer) -> Bool {
        if text.isEmpty { return pattern.isEmpty }
        return starsOnly ? matchesRuns(of: pattern, text) : walk(pattern, text)
    }

    /// Whether pattern has no `?`, `[` or `\`: only literal bytes and `*`.
    static func isStarsOnly(_ pattern: some Sequence<UInt8>) -> Bool {
        !pattern.contains { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\") }
    }

    /// A pattern of literal bytes and `*` only against a text that is not
    /// empty: the runs between stars in order, each found leftmost.
    private static func matchesRuns(of pattern: UnsafeRawBufferPointer, _ text: UnsafeRawBufferPointer) -> Bool {
        let star = UInt8(ascii: "*")
        guard let first = pattern.firstIndex(of: star), let last = pattern.lastIndex(of: star) else {
            return pattern.count == text.count && same(pattern, 0, text, 0, count: text.count)
        }
        let suffix = pattern.count - last - 1
        guard text.count >= first + suffix, same(text, 0, pattern, 0, count: first),
              same(text, text.count - suffix, pattern, last + 1, count: suffix) else { return false }
        var t = first, p = first + 1
        let end = text.count - suffix
        while p < last {
            if pattern[p] == star {
                p += 1
                continue
            }
            var q = p
            while pattern[q] != star { q += 1 }
            guard let at = find(UnsafeRawBufferPointer(rebasing: pattern[p..<q]), in: text, from: t, to: end)
            else { return false }
            t = at + q - p
            p = q
        }
        return true
    }

    /// Where run first occurs within text[from..<to], if it does.
    private static func find(_ run: UnsafeRawBufferPointer, in text: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var at = from
        while at + run.count <= to {
            if text[at] == run[0], same(text, at, run, 0, count: run.count) { return at }
            at += 1
        }
        return nil
    }

    /// Whether count bytes of a from aOffset equal those of b from bOffset
    /// (both within bounds). memcmp: the generic comparison of two slices
    /// was a tenth of a keyspace notification's matching.
    @inline(__always)
    private static func same(
        _ a: UnsafeRawBufferPointer, _ aOffset: Int, _ b: UnsafeRawBufferPointer, _ bOffset: Int, count: Int
    ) -> Bool {
        // Safe: callers pass ranges they checked lie within a and b.
        count == 0 || memcmp(a.baseAddress! + aOffset, b.baseAddress! + bOffset, count) == 0
    }

    /// Whether a text that is not empty matches, by the two-pointer walk
    /// (any pattern; tests compare it with the runs' way).
    func matchesByWalk(_ text: UnsafeRawBufferPointer) -> Bool {
        pattern.withUnsafeBytes { Self.walk($0, text) }
    }

    private static func walk(_ pattern: UnsafeRawBufferPointer, _ text: UnsafeRawBufferPointer) -> Bool {
        var p = 0, t = 0
        var star: (pattern: Int, text: Int)?
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
                continue
            }
            if p < pattern.count, let next = matchOne(pattern, at: p, text[t]) {
                p = next
                t += 1
                continue
            }
            guard let retry = star else { return false }
            star = (retry.pattern, retry.text + 1)
            p = retry.pattern + 1
            t = retry.text + 1
        }
        while p < pattern.count, pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// If the pattern element at p (not `*`) matches byte, the index after it.
    private static func matchOne(_ pattern: UnsafeRawBufferPointer, at p: Int, _ byte: UInt8) -> Int? {
        switch pattern[p] {
        case UInt8(ascii: "?"):
            return p + 1
        case UInt8(ascii: "["):
            return matchClass(pattern, at: p, byte)
        case UInt8(ascii: "\\") where p + 1 < pattern.count:
            return pattern[p + 1] == byte ? p + 2 : nil
        default:
            return pattern[p] == byte ? p + 1 : nil
        }
    }

    /// A `[...]` class at p: as Redis, an unterminated class runs to the
    /// end of the pattern, and `\` escapes the next byte inside it.
    private static func matchClass(_ pattern: UnsafeRawBufferPointer, at start: Int, _ byte: UInt8) -> Int? {
        var p = start + 1
        let negate = p < pattern.count && pattern[p] == UInt8(ascii: "^")
        if negate { p += 1 }
        var matched = false
        while p < pattern.count && pattern[p] != UInt8(ascii: "]") {
            if pattern[p] == UInt8(ascii: "\\"), p + 1 < pattern.count {
                p += 1
                if pattern[p] == byte { matched = true }
            } else if p + 2 < pattern.count, pattern[p + 1] == UInt8(ascii: "-") {
                var low = pattern[p], high = pattern[p + 2]
                if low > high { swap(&low, &high) }
                if byte >= low && byte <= high { matched = true }
                p += 2
            } else if pattern[p] == byte {
                matched = true
            }
            p += 1
        }
        // p is at the closing ']' or at the end (unterminated class).
        return matched != negate ? min(p + 1, pattern.count) : nil
    }
}
