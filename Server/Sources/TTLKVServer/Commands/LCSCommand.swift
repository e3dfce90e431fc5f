#if canImport(Glibc)
import Glibc
#endif

/*
 LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest
 common subsequence of two values, as Redis 7 computes it.

 Redis fills the classic dynamic-programming table, LCS(i, j) = the length
 for the first i bytes of a and the first j of b, then walks back from the
 corner: on equal bytes it takes the byte and steps diagonally, otherwise it
 steps towards the larger neighbour, up (i - 1) on a strict win and left
 (j - 1) on a tie. Which of several longest subsequences comes out, and
 the matched ranges IDX reports (from the end of the strings backwards),
 depend on that rule, so it is followed exactly. LEN alone needs no walk:
 two rows of the table suffice.

 Bounds, as Redis's: the table holds (len1 + 1) x (len2 + 1) 32-bit cells,
 and a table larger than proto-max-bulk-len is refused ("Insufficient
 memory, transient memory for LCS exceeds proto-max-bulk-len"), also for
 LEN, whose two rows would fit; a table the system cannot allocate is
 refused too. So memory stays under proto-max-bulk-len (512 MiB) per LCS,
 and time under about that many cells' work (a second or so), spent on the
 connection's event loop. The two values are copied first, so that the
 computation holds no read section (which would hold reclamation up).
 */
let lcsCommand = Command("lcs", arity: -3, flags: ["readonly"], keys: (1, 2, 1), categories: ["@read", "@string", "@slow"],
                         run: longestCommonSubsequence)

/// The value of the key at argument index, copied (empty if missing: a
/// keymiss, as Redis's read lookup); nil after an error reply.
private func lookUp(_ call: CommandCall, _ index: Int, _ replies: inout Replies) -> [UInt8]? {
    guard let value = call.attempt(&replies, { try call.keyspace.withValue(call.arguments[index]) { Array($0) } }) else { return nil }
    if value == nil {
        call.notify(.keymiss, call.arguments[index])
        call.takeOwnMessages(&replies)
    }
    return value ?? []
}

private func longestCommonSubsequence(_ call: CommandCall, _ replies: inout Replies) {
    let arguments = call.arguments
    guard let a = lookUp(call, 1, &replies), let b = lookUp(call, 2, &replies) else { return }
    var lengthOnly = false, withIndexes = false, withMatchLength = false
    var minimumMatch: Int64 = 0
    var index = 3
    while index < arguments.count {
        if arguments.matches(index, "IDX") {
            withIndexes = true
        } else if arguments.matches(index, "LEN") {
            lengthOnly = true
        } else if arguments.matches(index, "WITHMATCHLEN") {
            withMatchLength = true
        } else if arguments.matches(index, "MINMATCHLEN") && index + 1 < arguments.count {
            guard let value = arguments.integer(index + 1) else { return replies.error(CommandError.notInteger.reply) }
            minimumMatch = max(value, 0)
            index += 1
        } else {
            return replies.error(CommandError.syntax.reply)
        }
        index += 1
    }
    if lengthOnly && withIndexes {
        return replies.error("ERR If you want both the length and indexes, please just use IDX.")
    }
    let cells = (a.count + 1).multipliedReportingOverflow(by: b.count + 1)
    guard !cells.overflow, cells.partialValue <= call.server.configuration.limits.maximumBulkLength / 4 else {
        return replies.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
    }
    if lengthOnly { return replies.integer(lcsLength(a, b)) }
    guard let table = LCSTable(a, b) else {
        return replies.error("ERR Insufficient memory, failed allocating transient memory for LCS")
    }
    defer { table.deallocate() }
    let (subsequence, matches) = table.walkBack(a, b)
    guard withIndexes else { return subsequence.withUnsafeBytes { replies.bulk($0) } }
    let reported = matches.filter { minimumMatch == 0 || $0.length >= minimumMatch }
    replies.mapHeader(2)
    replies.bulk("matches")
    replies.arrayHeader(reported.count)
    for match in reported {
        replies.arrayHeader(withMatchLength ? 3 : 2)
        replies.arrayHeader(2)
        replies.integer(match.a.lowerBound)
        replies.integer(match.a.upperBound)
        replies.arrayHeader(2)
        replies.integer(match.b.lowerBound)
        replies.integer(match.b.upperBound)
        if withMatchLength { replies.integer(match.length) }
    }
    replies.bulk("len")
    replies.integer(subsequence.count)
}

/// The LCS length in two rows of the table.
private func lcsLength(_ a: [UInt8], _ b: [UInt8]) -> Int {
    var previous = [UInt32](repeating: 0, count: b.count + 1)
    var current = previous
    for i in 1..<max(a.count + 1, 1) {
        for j in 1..<max(b.count + 1, 1) {
            current[j] = a[i - 1] == b[j - 1] ? previous[j - 1] + 1 : max(previous[j], current[j - 1])
        }
        swap(&previous, &current)
    }
    return Int(previous[b.count])
}

/// The full table, allocated with malloc so that a failure is an error
/// reply, not a crash.
private struct LCSTable {
    /// A run of matched bytes: its ranges in a and b (inclusive ends).
    struct Match {
        var a: ClosedRange<Int>
        var b: ClosedRange<Int>
        var length: Int { a.count }
    }

    // Owned by this value: freed by deallocate(), after the last use.
    private let cells: UnsafeMutablePointer<UInt32>
    private let width: Int

    init?(_ a: [UInt8], _ b: [UInt8]) {
        width = b.count + 1
        guard let memory = malloc((a.count + 1) * width * MemoryLayout<UInt32>.stride) else { return nil }
        cells = memory.assumingMemoryBound(to: UInt32.self)
        for i in 0...a.count {
            for j in 0...b.count {
                if i == 0 || j == 0 {
                    cells[i * width + j] = 0
                } else if a[i - 1] == b[j - 1] {
                    cells[i * width + j] = cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[i * width + j] = max(cells[(i - 1) * width + j], cells[i * width + j - 1])
                }
            }
        }
    }

    func deallocate() {
        free(cells)
    }

    private func length(_ i: Int, _ j: Int) -> UInt32 { cells[i * width + j] }

    /// The subsequence, and its runs from the end backwards, walking back
    /// from the corner by Redis's rule.
    func walkBack(_ a: [UInt8], _ b: [UInt8]) -> ([UInt8], [Match]) {
        var i = a.count, j = b.count
        var subsequence = [UInt8](repeating: 0, count: Int(length(i, j)))
        var next = subsequence.count
        var matches: [Match] = []
        var run: Match?
        while i > 0 && j > 0 {
            if a[i - 1] == b[j - 1] {
                next -= 1
                subsequence[next] = a[i - 1]
                if let current = run {
                    run = Match(a: (i - 1)...current.a.upperBound, b: (j - 1)...current.b.upperBound)
                } else {
                    run = Match(a: (i - 1)...(i - 1), b: (j - 1)...(j - 1))
                }
                i -= 1
                j -= 1
                // A run that reaches the start of either string ends here.
                if let current = run, i == 0 || j == 0 {
                    matches.append(current)
                    run = nil
                }
            } else {
                if length(i - 1, j) > length(i, j - 1) { i -= 1 } else { j -= 1 }
                if let current = run {
                    matches.append(current)
                    run = nil
                }
            }
        }
        return (subsequence, matches)
    }
}
