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

    @Test func pathologicalPatternIsFast() {
        let text = String(repeating: "a", count: 5_000)
        #expect(!match(String(repeating: "*a", count: 30) + "b", text))
    }
}
