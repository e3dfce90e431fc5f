#if canImport(Glibc)
import Glibc
#endif

/// SplitMix64: a fast, good-enough generator, one per thread.
struct FastRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<bound (bound > 0), by multiply-shift.
    @inline(__always)
    mutating func next(below bound: UInt64) -> UInt64 {
        UInt64((UInt128(next()) &* UInt128(bound)) >> 64)
    }

    /// Uniform in [0, 1).
    @inline(__always)
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}

/// How keys are picked.
enum KeyDistribution: Equatable, CustomStringConvertible, Codable, Sendable {
    case uniform
    case zipf(Double)

    init?(argument: String) {
        if argument == "uniform" {
            self = .uniform
        } else if argument.hasPrefix("zipf:"), let s = Double(argument.dropFirst(5)), s > 0, s != 1 {
            self = .zipf(s)
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .uniform: "uniform"
        case .zipf(let s): "zipf:\(s)"
        }
    }

    init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let distribution = KeyDistribution(argument: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad distribution \(text)"))
        }
        self = distribution
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Zipf-distributed ranks in 0..<n by rejection-inversion (Hörmann and
/// Derflinger, 1996): O(1) per sample, no table, any n.
struct ZipfSampler {
    private let n: Double
    private let s: Double
    private let hIntegralX1: Double
    private let hIntegralN: Double
    private let threshold: Double

    init(count: UInt64, exponent: Double) {
        n = Double(count)
        s = exponent
        hIntegralX1 = Self.hIntegral(1.5, s) - 1
        hIntegralN = Self.hIntegral(n + 0.5, s)
        threshold = 2 - Self.hIntegralInverse(Self.hIntegral(2.5, s) - Self.h(2, s), s)
    }

    private static func h(_ x: Double, _ s: Double) -> Double { exp(-s * log(x)) }

    private static func helper1(_ x: Double) -> Double {
        abs(x) > 1e-8 ? log1p(x) / x : 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))
    }

    private static func helper2(_ x: Double) -> Double {
        abs(x) > 1e-8 ? expm1(x) / x : 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x))
    }

    private static func hIntegral(_ x: Double, _ s: Double) -> Double {
        let logX = log(x)
        return helper2((1 - s) * logX) * logX
    }

    private static func hIntegralInverse(_ x: Double, _ s: Double) -> Double {
        var t = x * (1 - s)
        if t < -1 { t = -1 }
        return exp(helper1(t) * x)
    }

    /// A rank in 0..<count; rank 0 is the most frequent.
    func next(_ random: inout FastRandom) -> UInt64 {
        while true {
            let u = hIntegralN + random.unit() * (hIntegralX1 - hIntegralN)
            let x = Self.hIntegralInverse(u, s)
            var k = (x + 0.5).rounded(.down)
            if k < 1 { k = 1 } else if k > n { k = n }
            if k - x <= threshold || u >= Self.hIntegral(k + 0.5, s) - Self.h(k, s) {
                return UInt64(k) - 1
            }
        }
    }
}

/// The bytes of key number `index`: the index, then a scrambled copy of
/// it, then a fixed fill up to `size`. Distinct indices give distinct keys.
struct KeyBuffer {
    let bytes: UnsafeMutableRawBufferPointer

    init(size: Int) {
        bytes = .allocate(byteCount: max(size, 1), alignment: 8)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
    }

    @inline(__always)
    func set(_ index: UInt64) -> UnsafeRawBufferPointer {
        var words = (index, index &* 0x9E37_79B9_7F4A_7C15)
        withUnsafeBytes(of: &words) { raw in
            bytes.baseAddress!.copyMemory(from: raw.baseAddress!, byteCount: min(16, bytes.count))
        }
        return UnsafeRawBufferPointer(bytes)
    }

    func deallocate() { bytes.deallocate() }
}

/// Value bytes of the sizes asked for, prepared before timing starts.
struct ValueSource {
    let bytes: UnsafeMutableRawBufferPointer
    let sizes: ClosedRange<Int>

    init(sizes: ClosedRange<Int>) {
        self.sizes = sizes
        bytes = .allocate(byteCount: max(sizes.upperBound, 1), alignment: 8)
        for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i) }
    }

    @inline(__always)
    func value(_ random: inout FastRandom) -> UnsafeRawBufferPointer {
        let size = sizes.lowerBound == sizes.upperBound
            ? sizes.lowerBound
            : sizes.lowerBound + Int(random.next(below: UInt64(sizes.count)))
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[0..<size])
    }

    func deallocate() { bytes.deallocate() }
}

/// The operation mix, in percent.
struct OperationMix: Equatable, CustomStringConvertible, Codable, Sendable {
    var get: Int
    var set: Int
    var delete: Int

    init(get: Int, set: Int, delete: Int) {
        (self.get, self.set, self.delete) = (get, set, delete)
    }

    /// Parses "get=90,set=10,delete=0".
    init?(argument: String) {
        var values = ["get": 0, "set": 0, "delete": 0]
        for part in argument.split(separator: ",") {
            let pair = part.split(separator: "=")
            guard pair.count == 2, let value = Int(pair[1]), value >= 0, values[String(pair[0])] != nil else { return nil }
            values[String(pair[0])] = value
        }
        guard values.values.reduce(0, +) == 100 else { return nil }
        self.init(get: values["get"]!, set: values["set"]!, delete: values["delete"]!)
    }

    var description: String { "get=\(get),set=\(set),delete=\(delete)" }

    /// "90% get, 10% set" (the operations that occur).
    var summary: String {
        [("get", get), ("set", set), ("delete", delete)].filter { $0.1 > 0 }.map { "\($0.1)% \($0.0)" }
            .joined(separator: ", ")
    }
}

/// Parses "32" or "16-64" (bytes) or "600-1200" (seconds).
func parseRange(_ argument: String) -> ClosedRange<Int>? {
    let parts = argument.split(separator: "-").compactMap { Int($0) }
    switch parts.count {
    case 1 where parts[0] >= 0: return parts[0]...parts[0]
    case 2 where parts[0] >= 0 && parts[0] <= parts[1]: return parts[0]...parts[1]
    default: return nil
    }
}
