/*
 Inline commands are split into words as Redis's sdssplitargs does:
 words are separated by whitespace; a word may be "double quoted", with
 the escapes \n \r \t \b \a \xHH and \<any> inside, or 'single quoted',
 with \' as the only escape; a closing quote must be followed by
 whitespace or the end of the line, and an unclosed quote is an error.
 A line never holds a NUL byte (the parser does not end such a line, as
 Redis does not), so 0 stands for the end of the line here.
 */

/// Splits `line` into words, appending their bytes to `bytes` and their
/// ranges in `bytes` to `ranges`; false on unbalanced quotes.
func splitInlineArguments(_ line: UnsafeRawBufferPointer, into bytes: inout [UInt8], ranges: inout [Range<Int>]) -> Bool {
    var p = 0
    let n = line.count
    func at(_ i: Int) -> UInt8 { i < n ? line[i] : 0 }
    while true {
        while p < n, isRedisSpace(line[p]) { p += 1 }
        if at(p) == 0 { return true }
        let start = bytes.count
        var inDouble = false, inSingle = false, done = false
        while !done {
            let c = at(p)
            if inDouble {
                if c == UInt8(ascii: "\\"), at(p + 1) == UInt8(ascii: "x"),
                   let high = hexValue(at(p + 2)), let low = hexValue(at(p + 3)) {
                    bytes.append(high << 4 | low)
                    p += 3
                } else if c == UInt8(ascii: "\\"), at(p + 1) != 0 {
                    p += 1
                    bytes.append(unescaped(at(p)))
                } else if c == UInt8(ascii: "\"") || c == 0 {
                    guard closes(c, next: at(p + 1)) else { return false }
                    done = true
                } else {
                    bytes.append(c)
                }
            } else if inSingle {
                if c == UInt8(ascii: "\\"), at(p + 1) == UInt8(ascii: "'") {
                    p += 1
                    bytes.append(UInt8(ascii: "'"))
                } else if c == UInt8(ascii: "'") || c == 0 {
                    guard closes(c, next: at(p + 1)) else { return false }
                    done = true
                } else {
                    bytes.append(c)
                }
            } else {
                switch c {
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"), 0:
                    done = true
                case UInt8(ascii: "\""):
                    inDouble = true
                case UInt8(ascii: "'"):
                    inSingle = true
                default:
                    bytes.append(c)
                }
            }
            if at(p) != 0 { p += 1 }
        }
        ranges.append(start..<bytes.count)
    }
}

/// Whether a quote (not the line's end, c == 0) closes a quoted word
/// properly: followed by whitespace or the end of the line.
private func closes(_ c: UInt8, next: UInt8) -> Bool {
    c != 0 && (next == 0 || isRedisSpace(next))
}

/// C's isspace in the "C" locale.
private func isRedisSpace(_ c: UInt8) -> Bool {
    c == 0x20 || (c >= 0x09 && c <= 0x0D)
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

private func unescaped(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "n"): 0x0A
    case UInt8(ascii: "r"): 0x0D
    case UInt8(ascii: "t"): 0x09
    case UInt8(ascii: "b"): 0x08
    case UInt8(ascii: "a"): 0x07
    default: c
    }
}
