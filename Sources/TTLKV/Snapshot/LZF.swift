/*
 LZF decompression, as Redis's lzf_d.c: how an RDB file stores a string that
 Redis compressed (every string over 20 bytes, by default, when that saves
 at least 4 bytes). TTLKV writes strings uncompressed, but reads whatever
 Redis wrote.

 The stream is a sequence of runs. A control byte below 32 is a literal run
 of (control + 1) bytes copied from the input. Any other control byte is a
 back reference: its top 3 bits are the length minus 2 (7 meaning "add the
 next byte"), its low 5 bits and the following byte the distance minus 1
 back into what was already written; the copy may overlap its own output
 (a run of one repeated byte is a distance of 1).
 */

/// Decompresses `input` into `output`, which must be exactly the size the
/// RDB file recorded. Returns false if the input is malformed: a run past
/// either end, a reference before the start, or a length that does not
/// come out exact.
func lzfDecompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
    var inIndex = 0
    var outIndex = 0
    while inIndex < input.count {
        let control = Int(input[inIndex])
        inIndex += 1
        if control < 32 {
            let length = control + 1
            guard inIndex + length <= input.count, outIndex + length <= output.count else { return false }
            output.baseAddress!.advanced(by: outIndex)
                .copyMemory(from: input.baseAddress!.advanced(by: inIndex), byteCount: length)
            inIndex += length
            outIndex += length
            continue
        }
        var length = control >> 5
        if length == 7 {
            guard inIndex < input.count else { return false }
            length += Int(input[inIndex])
            inIndex += 1
        }
        length += 2
        guard inIndex < input.count else { return false }
        let distance = ((control & 0x1f) << 8) + Int(input[inIndex]) + 1
        inIndex += 1
        guard distance <= outIndex, outIndex + length <= output.count else { return false }
        // Byte by byte: the source may overlap what this copy writes.
        for _ in 0..<length {
            output[outIndex] = output[outIndex - distance]
            outIndex += 1
        }
    }
    return outIndex == output.count
}
