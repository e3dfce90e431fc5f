/*
 The thread that writes a snapshot's bytes to its file, so that the kernel's
 copy of each buffer into the page cache overlaps the walk that fills the
 next one instead of following it. That copy is a third of a big write's
 time, and more when the page cache's pages must first be backed again (a
 virtual machine's host took them back): docs/design.md, "Snapshots".

 Two buffers go back and forth. The walk's thread copies what the encoder
 gathered into a free one and queues it, waiting only while both are
 queued or being written; this thread writes them in order. A chunk larger
 than a buffer (a step of big values) goes in buffer-sized pieces, so that
 memory stays at two buffers and the writes still overlap the walk. The
 first failed write stops the writing: its errno is kept, and every later
 hand-over and the finish report it. One thread hands chunks over.

 The thread also keeps the CRC-64 of what it writes, which the file's
 trailer needs: the walk's thread, the one a snapshot waits for, then
 spends nothing on it (a tenth of a big snapshot's time, measured).
 */
#if canImport(Glibc)
import Glibc
#endif

/// Writes queued chunks of bytes to a file descriptor on a thread of its
/// own, in order, for one thread that hands them over.
final class SnapshotWriteThread: @unchecked Sendable {
    // Shared with its own thread only: between the thread's start and its
    // join every stored property below `condition` is read and written only
    // under its mutex, except a buffer's bytes, which belong to whichever
    // side took the buffer out of `free` or `queued`, and `crc` (see there).
    private let condition = PosixCondition()
    private let descriptor: Int32
    private var free: [UnsafeMutableRawBufferPointer] = []
    private var queued: [(buffer: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var writing = false
    private var stopping = false
    private var failure: Int32 = 0
    private var thread: pthread_t?
    /// Written by the thread alone, outside the mutex, before it marks the
    /// chunk written under it; read by the caller only once idle.
    private var crc = CRC64()

    /// The bytes of each of the two buffers.
    private let bufferCapacity: Int

    /// Starts the thread; nil if it cannot be started (the caller then
    /// writes for itself).
    init?(descriptor: Int32, bufferCapacity: Int) {
        self.descriptor = descriptor
        self.bufferCapacity = bufferCapacity
        for _ in 0..<2 {
            free.append(.allocate(byteCount: bufferCapacity, alignment: 64))
        }
        guard let handle = startPosixThread({ self.run() }) else { return nil }
        thread = handle
    }

    deinit {
        for buffer in free { buffer.deallocate() }
        for chunk in queued { chunk.buffer.deallocate() }
    }

    /// Queues a copy of `bytes`, in buffer-sized pieces, to be written
    /// after everything submitted before. Returns the errno of the first
    /// failed write (of an earlier chunk: this one is not written yet),
    /// ECANCELED after ``stop()``, or 0.
    func submit(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        repeat {
            let count = Swift.min(bufferCapacity, bytes.count - offset)
            condition.lock()
            while free.isEmpty && failure == 0 && !stopping { condition.wait() }
            let refusal = failure != 0 ? failure : stopping ? ECANCELED : 0
            guard refusal == 0 else {
                condition.unlock()
                return refusal
            }
            let buffer = free.removeLast()
            condition.unlock()
            if count > 0 { buffer.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count) }
            condition.lock()
            queued.append((buffer, count))
            condition.broadcast()
            condition.unlock()
            offset += count
        } while offset < bytes.count
        return 0
    }

    /// Waits for every queued chunk to be written, then stops the thread.
    /// Returns the errno of the first failed write, ECANCELED if the thread
    /// had been stopped, or 0.
    func finish() -> Int32 {
        let failure = waitUntilIdle()
        stop()
        return failure
    }

    /// Waits for every queued chunk to be written; returns the CRC-64 of
    /// all of them, with the errno of the first failed write (ECANCELED
    /// after ``stop()``), or 0.
    func checksumOfWritten() -> (UInt64, Int32) {
        let failure = waitUntilIdle()
        guard failure == 0 else { return (0, failure) }
        condition.lock()
        defer { condition.unlock() }
        return (crc.value, 0)
    }

    /// Stops the thread, dropping what is queued and not yet being written,
    /// and waits for it. Only the first call does anything.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        let handle = thread
        thread = nil
        condition.unlock()
        if let handle { pthread_join(handle, nil) }
    }

    /// 0 once everything queued is written; else the first failure, or
    /// ECANCELED once the thread has been stopped.
    private func waitUntilIdle() -> Int32 {
        condition.lock()
        while (!queued.isEmpty || writing) && failure == 0 && !stopping { condition.wait() }
        let result = failure != 0 ? failure : stopping ? ECANCELED : 0
        condition.unlock()
        return result
    }

    private func run() {
        condition.lock()
        while true {
            while queued.isEmpty && !stopping { condition.wait() }
            if stopping { break }
            let chunk = queued.removeFirst()
            writing = true
            let skip = failure != 0
            condition.unlock()
            let bytes = UnsafeRawBufferPointer(rebasing: chunk.buffer[..<chunk.count])
            // After a failure nobody reads the checksum, and the caller may
            // already be looking at it (it stops waiting at the failure).
            if !skip { crc.update(bytes) }
            let error = skip ? 0 : writeAll(descriptor, bytes)
            condition.lock()
            if failure == 0 { failure = error }
            writing = false
            free.append(chunk.buffer)
            condition.broadcast()
        }
        condition.unlock()
    }
}

/// Writes all of `bytes` to `descriptor`, retrying short writes and
/// interruptions; returns 0 or the errno of the failed write.
func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    var offset = 0
    while offset < bytes.count {
        let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            return errno
        }
        offset += written
    }
    return 0
}
