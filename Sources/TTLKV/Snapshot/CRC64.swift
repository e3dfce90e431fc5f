/*
 Redis's CRC-64 (the Jones polynomial, 0xad93d23594c935a9, reflected, initial
 value 0, no final xor): the checksum at the end of every RDB file and of
 every DUMP payload. Its check value, the CRC of "123456789", is
 0xe9c6d914c4b8d9ca.

 Computed by Intel's ISA-L (Debian: libisal-dev), which folds the input 128
 bits at a time with carry-less multiplication: 7 GB/s here against 1.5 for
 the table lookups eight bytes at a time this file did before, so that a
 10M-key snapshot's 555 MB take 0.08 s of the save or the restart that
 waits for them instead of 0.37. On x86-64 it is the PCLMULQDQ kernel
 (`_by8`), not the AVX-512 one ISA-L's dispatcher picks on CPUs that have
 it: that one was faster alone (0.05 s) but slowed the whole process down
 (a 10M-key BGSAVE took 3.8-5.5 s instead of 1.8-2.6, a restart 0.4 s
 more, in alternated runs). ISA-L's CRCs invert the register on the way in
 and out; Redis's does not, hence the complements around each call.

 A large file is checksummed in two halves on two threads, joined as zlib's
 crc32_combine joins CRCs: the CRC is linear, so the CRC of A followed by B
 is the CRC of A carried through len(B) zero bytes, xored with the CRC of
 B; carrying through n zero bytes is a 64x64 matrix over GF(2) raised to
 the n-th power (8n zero bits), by squaring, O(log n). A restart checks the
 whole file before it stores any key, and its first pass over the mapped
 file is mostly page faults, which two threads take in half the time.
 */
#if canImport(Glibc)
import Glibc
#endif
import CISAL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A running CRC-64 in Redis's variant.
struct CRC64 {
    private(set) var value: UInt64 = 0

    init() {}

    /// Folds `bytes` into the checksum.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        // Bound for the call only: ISA-L reads count bytes there as unsigned char.
        let start = base.assumingMemoryBound(to: UInt8.self), count = UInt64(bytes.count)
        #if arch(x86_64)
        value = ~crc64_jones_refl_by8(~value, start, count)
        #else
        value = ~crc64_jones_refl(~value, start, count)
        #endif
    }

    /// The CRC of `bytes` alone.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var crc = CRC64()
        crc.update(bytes)
        return crc.value
    }

    /// Bytes from which ``checksum(splitting:)`` uses a second thread.
    static let splitBytes = 4 << 20

    /// The CRC of bytes; past ``splitBytes``, its second half computed on a
    /// thread of its own while this one computes the first, where the
    /// process may use more than one CPU.
    static func checksum(splitting bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard bytes.count >= splitBytes, ProcessInfo.processInfo.activeProcessorCount > 1 else { return checksum(bytes) }
        let half = bytes.count / 2
        let second = HalfChecksum(UnsafeRawBufferPointer(rebasing: bytes[half...]))
        guard let thread = startPosixThread({ second.compute() }) else { return checksum(bytes) }
        let first = checksum(UnsafeRawBufferPointer(rebasing: bytes[..<half]))
        pthread_join(thread, nil)
        return combine(first, second.crc, secondLength: bytes.count - half)
    }

    /// The second half's bytes and CRC, handed to its thread.
    private final class HalfChecksum: @unchecked Sendable {
        // Safe to share: the thread reads `bytes` (which the caller keeps
        // valid until it joins) and writes `crc` once; the caller reads
        // `crc` only after pthread_join.
        let bytes: UnsafeRawBufferPointer
        var crc: UInt64 = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func compute() { crc = CRC64.checksum(bytes) }
    }

    /// The CRC of A followed by B, from the CRC of A, the CRC of B and
    /// B's length.
    static func combine(_ first: UInt64, _ second: UInt64, secondLength: Int) -> UInt64 {
        guard secondLength > 0 else { return first }
        // odd: one zero bit; then even: two, odd: four; each square doubles.
        var odd = [UInt64](repeating: 0, count: 64), even = odd
        odd[0] = polynomial
        for bit in 1..<64 { odd[bit] = 1 << UInt64(bit - 1) }
        square(&even, odd)
        square(&odd, even)
        var crc = first, length = secondLength
        // Each round applies the next power of two zero bytes where
        // length has a one bit: the first round's even is one byte.
        while true {
            square(&even, odd)
            if length & 1 != 0 { crc = times(even, crc) }
            length >>= 1
            if length == 0 { break }
            square(&odd, even)
            if length & 1 != 0 { crc = times(odd, crc) }
            length >>= 1
            if length == 0 { break }
        }
        return crc ^ second
    }

    /// matrix (64 columns) times vector, over GF(2).
    private static func times(_ matrix: [UInt64], _ vector: UInt64) -> UInt64 {
        var sum: UInt64 = 0, vector = vector, column = 0
        while vector != 0 {
            if vector & 1 != 0 { sum ^= matrix[column] }
            vector >>= 1
            column += 1
        }
        return sum
    }

    /// result = matrix squared.
    private static func square(_ result: inout [UInt64], _ matrix: [UInt64]) {
        for column in 0..<64 { result[column] = times(matrix, matrix[column]) }
    }

    /// 0xad93d23594c935a9, bits reversed.
    private static let polynomial: UInt64 = 0x95ac_9329_ac4b_c9b5
}
