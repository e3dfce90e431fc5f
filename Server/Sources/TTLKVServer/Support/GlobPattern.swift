/*
 Glob patterns, as SCAN MATCH reads them (Redis's stringmatchlen): `*` any
 run of bytes, `?` any one byte, `[abc]`, `[^abc]` and `[a-z]` classes,
 `\x` the byte x itself. Matching is case-sensitive and byte-wise.

 Redis matches by recursion on every `*`, which is exponential on patterns
 like `*a*a*a*b`; here the classic two-pointer walk is used instead: on a
 mismatch after a `*`, retry from the byte after the last `*` one byte
 further on. Only the last `*` matters, because whatever an earlier `*`
 could absorb, the later one can too, so the walk is O(pattern x key).
 */

/// A compiled SCAN MATCH pattern.
struct GlobPattern {
    private let pattern: [UInt8]

    init(_ pattern: UnsafeRawBufferPointer) {
        self.pattern = Array(pattern)
    }

    init(_ pattern: [UInt8]) {
        self.pattern = pattern
    }

    init(_ pattern: String) {
        self.pattern = Array(pattern.utf8)
    }

    /// Whether the pattern is `*`: everything matches.
    var matchesEverything: Bool { pattern == [UInt8(ascii: "*")] }

    /// Whether text matches, as Redis's stringmatchlen answers: an empty
    /// text matches only the empty pattern (not even `*`; SCAN, KEYS and
    /// CONFIG GET test for a lone `*` before they match).
    func matches(_ text: UnsafeRawBufferPointer) -> Bool {
        if text.isEmpty { return pattern.isEmpty }
        var p = 0, t = 0
        var star: (pattern: Int, text: Int)?
        while t < text.count {
            if p < pattern.count, pattern[p] == UInt8(ascii: "*") {
                star = (p, t)
                p += 1
                continue
            }
            if p < pattern.count, let next = matchOne(at: p, text[t]) {
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
    private func matchOne(at p: Int, _ byte: UInt8) -> Int? {
        switch pattern[p] {
        case UInt8(ascii: "?"):
            return p + 1
        case UInt8(ascii: "["):
            return matchClass(at: p, byte)
        case UInt8(ascii: "\\") where p + 1 < pattern.count:
            return pattern[p + 1] == byte ? p + 2 : nil
        default:
            return pattern[p] == byte ? p + 1 : nil
        }
    }

    /// A `[...]` class at p: as Redis, an unterminated class runs to the
    /// end of the pattern, and `\` escapes the next byte inside it.
    private func matchClass(at start: Int, _ byte: UInt8) -> Int? {
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
