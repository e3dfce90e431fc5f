/// The arguments of one request, the command name first. The bytes belong
/// to the connection's input buffer and are valid only while the command
/// runs.
struct Arguments {
    // Valid during one command: the connection keeps the input buffer (or the
    // parser's inline bytes) alive and unmoved until the command returns.
    private let base: UnsafeRawPointer?
    private let ranges: [Range<Int>]

    init(base: UnsafeRawPointer?, ranges: [Range<Int>]) {
        self.base = base
        self.ranges = ranges
    }

    var count: Int { ranges.count }

    subscript(index: Int) -> UnsafeRawBufferPointer {
        let range = ranges[index]
        return UnsafeRawBufferPointer(start: base.map { $0 + range.lowerBound }, count: range.count)
    }

    /// Argument `index` as text (for names, options and error messages).
    func string(_ index: Int) -> String {
        String(decoding: self[index], as: UTF8.self)
    }

    /// Argument `index` read as Redis reads integers; nil if it is not one.
    func integer(_ index: Int) -> Int64? {
        parseRedisInteger(self[index])
    }

    /// Whether argument `index` is `keyword`, ignoring ASCII case.
    func matches(_ index: Int, _ keyword: StaticString) -> Bool {
        let argument = self[index]
        guard argument.count == keyword.utf8CodeUnitCount else { return false }
        return keyword.withUTF8Buffer { keyword in
            zip(argument, keyword).allSatisfy { asciiLowercase($0) == asciiLowercase($1) }
        }
    }
}

@inline(__always)
func asciiLowercase(_ byte: UInt8) -> UInt8 {
    byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
}
