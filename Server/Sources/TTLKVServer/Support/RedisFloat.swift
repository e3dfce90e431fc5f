#if canImport(Glibc)
import Glibc
#endif

/// INCRBYFLOAT's numbers as Redis reads and writes them: C's long double,
/// parsed with strtold and printed with "%.17Lf", trailing zeros dropped.
/// On x86 that is the 80-bit extended type, Swift's Float80; elsewhere
/// Swift has no long double, and Double stands in (its last digits can then
/// differ from Redis's).
#if arch(x86_64) || arch(i386)
typealias RedisFloat = Float80
private let formatSpecifier = "%.17Lf"
#else
typealias RedisFloat = Double
private let formatSpecifier = "%.17f"
#endif

/// Redis's longest long double text (MAX_LONG_DOUBLE_CHARS).
private let maximumCharacters = 5 * 1024

extension RedisFloat {
    /// The number in `bytes` as Redis's string2ld reads it: all of it a
    /// strtold number, no leading space, not NaN, not out of range (an
    /// infinity written as one is accepted); nil otherwise.
    init?(redisBytes bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty, bytes.count < maximumCharacters else { return nil }
        let parsed = withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { text -> RedisFloat? in
            text.initialize(repeating: 0)
            UnsafeMutableRawBufferPointer(text).copyMemory(from: bytes)
            guard isspace(Int32(UInt8(bitPattern: text[0]))) == 0 else { return nil }
            var end: UnsafeMutablePointer<CChar>?
            errno = 0
            #if arch(x86_64) || arch(i386)
            let value = strtold(text.baseAddress!, &end)
            #else
            let value = strtod(text.baseAddress!, &end)
            #endif
            guard let end, end - text.baseAddress! == bytes.count, !value.isNaN else { return nil }
            if errno == ERANGE && (value.isInfinite || value == 0) { return nil }
            return value
        }
        guard let parsed else { return nil }
        self = parsed
    }

    /// The text Redis stores for the number (ld2string, LD_STR_HUMAN):
    /// 17 decimals, trailing zeros and a bare point dropped, "-0" as "0".
    var redisText: [UInt8] {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: maximumCharacters) { buffer -> [UInt8] in
            let written = withVaList([self]) { vsnprintf(buffer.baseAddress!, maximumCharacters, formatSpecifier, $0) }
            var text = Array(UnsafeRawBufferPointer(start: buffer.baseAddress, count: Int(min(written, Int32(maximumCharacters - 1)))))
            if text.contains(UInt8(ascii: ".")) {
                while text.last == UInt8(ascii: "0") { text.removeLast() }
                if text.last == UInt8(ascii: ".") { text.removeLast() }
            }
            return text == Array("-0".utf8) ? Array("0".utf8) : text
        }
    }
}
