/*
 The process's allocator, set for a server that must give memory back.

 glibc serves a large block (128 KiB and up, at first) from a mapping of
 its own, returned to the system when freed; but each time such a block is
 freed it raises that threshold to the block's size, up to 32 MiB. After a
 few huge requests or values, blocks of that size come from its heaps
 instead, and a freed one stays in the process: 20 connections that each
 sent a request with a million arguments left 65 MiB resident after every
 one of them had given its buffers back. A fixed threshold of 1 MiB keeps
 every block from there up in its own mapping, so freeing it shrinks the
 server. Only the executable does this: a program that embeds RedisServer
 keeps its own allocator settings.
 */
#if canImport(Glibc)
import Glibc
#endif

enum Allocator {
    /// Makes glibc map every block of 1 MiB or more on its own (no-op where
    /// mallopt is absent or ignores the setting).
    static func giveLargeBlocksBack() {
        #if canImport(Glibc)
        // mallopt is in <malloc.h>, which Swift's Glibc module leaves out: looked
        // up by name, with its C signature, int mallopt(int param, int value).
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let mmapThreshold: Int32 = -3 // M_MMAP_THRESHOLD in <malloc.h>
        _ = mallopt(mmapThreshold, 1 << 20)
        #endif
    }
}
