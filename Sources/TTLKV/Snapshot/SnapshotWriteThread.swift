/*
 The thread that writes a snapshot's bytes to its file, so that the kernel's
 copy of each buffer into the page cache overlaps the walk that fills the
 next one instead of following it. That copy is a third of a big write's
 time, and more when the page cache's pages must first be backed again (a
 virtual machine's host took them back): docs/design.md, "Snapshots".

 Two buffers go back and forth. The walk's thread copies what the encoder
 gathered into a free one and queues it, waiting only while both are
 queued or being written; this thread writes them in order. The first
 failed write stops the writing: its errno is kept, and the next hand-over
 or the finish reports it. A chunk larger than a buffer should be (a big
 value) is written by the walk's thread itself once this one is idle, so
 that no buffer grows to the size of the largest value.
 */
#if canImport(Glibc)
import Glibc
#endif

/// Writes queued chunks of bytes to a file descriptor on a thread of its
/// own, in order.
final class SnapshotWriteThread: @unchecked Sendable {
    // Safe to share: the pthread objects live at fixed addresses allocated
    // here and are freed in deinit, after the thread has been joined; every
    // stored property below them is read and written only under `mutex`,
    // except a buffer's bytes, which belong to whichever side took the
    // buffer out of `free` or `queued`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let descriptor: Int32
    private var free: [UnsafeMutableRawBufferPointer] = []
    private var queued: [(buffer: UnsafeMutableRawBufferPointer, count: Int)] = []
    private var writing = false
    private var stopping = false
    private var failure: Int32 = 0
    private var thread: pthread_t?

    /// Chunks of up to this many bytes are copied and queued; larger ones
    /// are written in place.
    let bufferCapacity: Int

    /// Starts the thread; nil if it cannot be started (the caller then
    /// writes for itself).
    init?(descriptor: Int32, bufferCapacity: Int) {
        self.descriptor = descriptor
        self.bufferCapacity = bufferCapacity
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for _ in 0..<2 {
            free.append(.allocate(byteCount: bufferCapacity, alignment: 64))
        }
        let context = Unmanaged.passRetained(self).toOpaque()
        var handle = pthread_t()
        guard pthread_create(&handle, nil, { context in
            Unmanaged<SnapshotWriteThread>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, context) == 0 else {
            Unmanaged<SnapshotWriteThread>.fromOpaque(context).release()
            return nil
        }
        thread = handle
    }

    deinit {
        for buffer in free { buffer.deallocate() }
        for chunk in queued { chunk.buffer.deallocate() }
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Writes `bytes` after everything submitted before: queued if it fits
    /// a buffer, else in place once the queue is written. Returns the errno
    /// of the first failed write (this one's or an earlier queued one's),
    /// ECANCELED after ``stop()``, or 0.
    func submit(_ bytes: UnsafeRawBufferPointer) -> Int32 {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return 0 }
        guard bytes.count <= bufferCapacity else {
            let failure = waitUntilIdle()
            return failure != 0 ? failure : writeAll(descriptor, bytes)
        }
        lock()
        while free.isEmpty && failure == 0 && !stopping { wait() }
        guard failure == 0, !stopping else { return unlock(returning: failure != 0 ? failure : ECANCELED) }
        let buffer = free.removeLast()
        unlock()
        buffer.baseAddress!.copyMemory(from: source, byteCount: bytes.count)
        lock()
        queued.append((buffer, bytes.count))
        pthread_cond_broadcast(condition)
        return unlock(returning: 0)
    }

    /// Waits for every queued chunk to be written, then stops the thread.
    /// Returns the errno of the first failed write, ECANCELED if the thread
    /// had been stopped, or 0.
    func finish() -> Int32 {
        let failure = waitUntilIdle()
        stop()
        return failure
    }

    /// Stops the thread, dropping what is queued and not yet being written,
    /// and waits for it. Only the first call does anything.
    func stop() {
        lock()
        stopping = true
        pthread_cond_broadcast(condition)
        let handle = thread
        thread = nil
        unlock()
        if let handle { pthread_join(handle, nil) }
    }

    /// 0 once everything queued is written; else the first failure, or
    /// ECANCELED once the thread has been stopped.
    private func waitUntilIdle() -> Int32 {
        lock()
        while (!queued.isEmpty || writing) && failure == 0 && !stopping { wait() }
        return unlock(returning: failure != 0 ? failure : stopping ? ECANCELED : 0)
    }

    private func run() {
        lock()
        while true {
            while queued.isEmpty && !stopping { wait() }
            if stopping { break }
            let chunk = queued.removeFirst()
            writing = true
            let skip = failure != 0
            unlock()
            let error = skip ? 0 : writeAll(descriptor, UnsafeRawBufferPointer(rebasing: chunk.buffer[..<chunk.count]))
            lock()
            if failure == 0 { failure = error }
            writing = false
            free.append(chunk.buffer)
            pthread_cond_broadcast(condition)
        }
        unlock()
    }

    private func lock() { pthread_mutex_lock(mutex) }
    private func unlock() { pthread_mutex_unlock(mutex) }
    private func wait() { pthread_cond_wait(condition, mutex) }

    private func unlock(returning value: Int32) -> Int32 {
        unlock()
        return value
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
