import Testing
@testable import TTLKVServer

/// SCAN MATCH patterns, cases from Redis's own tests of stringmatchlen.
@Suite struct GlobPatternTests {
    private func match(_ pattern: String, _ text: String) -> Bool {
        Array(text.utf8).withUnsafeBytes { GlobPattern(pattern).matches($0) }
    }

    @Test func wildcards() {
        // As Redis's stringmatchlen: only the empty pattern matches "".
        #expect(!match("*", "") && !match("**", "") && match("", ""))
        #expect(match("user:*", "user:42"))
        #expect(!match("user:*", "users:42"))
        #expect(match("h?llo", "hello") && !match("h?llo", "hllo"))
        #expect(match("*a*b*c", "xxaxxbxxc") && !match("*a*b*c", "xxaxxbxx"))
        #expect(match("a*", "a") && match("**a**", "ba"))
    }

    @Test func classesAndEscapes() {
        #expect(match("h[ae]llo", "hallo") && !match("h[ae]llo", "hillo"))
        #expect(match("h[^e]llo", "hallo") && !match("h[^e]llo", "hello"))
        #expect(match("h[a-b]llo", "hbllo") && match("h[b-a]llo", "hallo") && !match("h[a-b]llo", "hcllo"))
        #expect(match("h\\*llo", "h*llo") && !match("h\\*llo", "hello"))
        #expect(match("[\\]]", "]"))
        #expect(match("a[bc", "ab")) // an unterminated class runs to the end
        #expect(match("ab\\", "ab\\"))
    }

    /// Patterns of literal bytes and stars take a way of their own: every
    /// pattern of up to 6 of `a`, `b`, `*` against every text of 1 to 6 of
    /// `a`, `b` answers as the general walk does.
    @Test func starsOnlyPatternsMatchAsTheWalk() {
        func all(_ alphabet: [UInt8], upTo length: Int) -> [[UInt8]] {
            var words: [[UInt8]] = [[]], level: [[UInt8]] = [[]]
            for _ in 0..<length {
                level = level.flatMap { word in alphabet.map { word + [$0] } }
                words += level
            }
            return words
        }
        let texts = all(Array("ab".utf8), upTo: 6).filter { !$0.isEmpty }
        var checked = 0
        for pattern in all(Array("ab*".utf8), upTo: 6) {
            let glob = GlobPattern(pattern)
            for text in texts {
                text.withUnsafeBytes { text in
                    #expect(glob.matches(text) == glob.matchesByWalk(text), "\(pattern) \(Array(text))")
                }
                checked += 1
            }
        }
        #expect(checked == 1093 * 126)
        #expect(match("__key*__:*", "__keyspace@0__:user:1") && match("__key*__:*", "__keyevent@0__:set"))
        #expect(!match("__key*__:*", "__keyspace@0__") && !match("a*ba", "aba*"))
    }

    @Test func pathologicalPatternIsFast() {
        let text = String(repeating: "a", count: 5_000)
        #expect(!match(String(repeating: "*a", count: 30) + "b", text))
    }
}
