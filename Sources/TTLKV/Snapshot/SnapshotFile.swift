/*
 Snapshot files on disk, written so that a crash at any moment leaves the
 previous snapshot loadable: the new one goes to a temporary file in the
 same folder (so that the rename below stays within one file system), is
 flushed to the disk with fsync, and only then renamed over the old one,
 which POSIX makes atomic; then the folder is fsynced, so that the rename
 itself survives a power cut. A failed or interrupted write removes its
 temporary file and leaves the old snapshot as it was. The writes
 themselves run on a thread of their own (SnapshotWriteThread.swift), and
 the commit waits for them before its fsync.

 Reading maps the file into memory (read-only, private): the decoder then
 walks it in place, and the kernel pages it in as it goes and may drop
 pages already read, so a loader's memory does not double.
 */
#if canImport(Glibc)
import Glibc
#endif

/// A snapshot being written: a temporary file beside `path` that becomes
/// `path` when ``commit()`` succeeds.
struct SnapshotFileWriter: ~Copyable {
    let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    /// Writes the bytes while the caller gathers the next (nil if its
    /// thread could not start: the caller writes them itself).
    private let writer: SnapshotWriteThread?
    /// The errno of the first failed write, once one failed: a commit then
    /// throws it and never renames.
    private var failure: Int32 = 0
    private(set) var bytesWritten = 0
    /// The checksum of what the caller wrote itself, without a thread.
    private var crc = CRC64()

    /// Creates the temporary file (mode 0644, as Redis's dump.rdb), and a
    /// thread that writes it in pieces of up to `chunkBytes` bytes while
    /// the caller gathers the next. `opening` opens the temporary file (a
    /// test's can hand out a descriptor that refuses writes).
    init(path: String, chunkBytes: Int,
         opening: (String) -> Int32 = { open($0, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }) throws(SnapshotError) {
        self.path = path
        temporaryPath = Self.temporaryPath(for: path)
        descriptor = opening(temporaryPath)
        guard descriptor >= 0 else { throw ioError("open", temporaryPath) }
        writer = SnapshotWriteThread(descriptor: descriptor, bufferCapacity: chunkBytes)
    }

    /// "temp-<pid>-<name>" in the snapshot's folder, as Redis names its own.
    static func temporaryPath(for path: String) -> String {
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        return "\(folder)temp-\(getpid())-\(name)"
    }

    /// Appends `bytes`: hands them to the write thread, or writes them.
    /// Throws the first failed write's error, this one's or an earlier
    /// one's, at this call and every later one.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
        if failure == 0 {
            if let writer {
                failure = writer.submit(bytes)
            } else {
                crc.update(bytes)
                failure = writeAll(descriptor, bytes)
            }
        }
        guard failure == 0 else { throw ioError("write", temporaryPath, errno: failure) }
        bytesWritten += bytes.count
    }

    /// The CRC-64 of every byte written so far, once they are written.
    /// Throws the first failed write's error.
    mutating func checksum() throws(SnapshotError) -> UInt64 {
        guard let writer else { return crc.value }
        let (value, error) = writer.checksumOfWritten()
        if failure == 0 { failure = error }
        guard failure == 0 else { throw ioError("write", temporaryPath, errno: failure) }
        return value
    }

    /// fsync, close, rename over `path`, fsync the folder. On failure the
    /// temporary file is removed and `path` is as it was.
    consuming func commit() throws(SnapshotError) {
        let descriptor = self.descriptor
        self.descriptor = -1
        // The thread stops before the descriptor closes, whatever happened.
        let last = writer?.finish() ?? 0
        if failure == 0 { failure = last }
        guard failure == 0 else {
            close(descriptor)
            unlink(temporaryPath)
            throw ioError("write", temporaryPath, errno: failure)
        }
        guard fsync(descriptor) == 0 else {
            let error = ioError("fsync", temporaryPath)
            close(descriptor)
            unlink(temporaryPath)
            throw error
        }
        guard close(descriptor) == 0 else {
            let error = ioError("close", temporaryPath)
            unlink(temporaryPath)
            throw error
        }
        guard rename(temporaryPath, path) == 0 else {
            let error = ioError("rename", "\(temporaryPath) to \(path)")
            unlink(temporaryPath)
            throw error
        }
        let slash = path.lastIndex(of: "/")
        let folder = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let folderDescriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard folderDescriptor >= 0 else { throw ioError("open", folder) }
        defer { close(folderDescriptor) }
        guard fsync(folderDescriptor) == 0 else { throw ioError("fsync", folder) }
    }

    /// Gives up: removes the temporary file.
    deinit {
        writer?.stop()
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }
}

/// A snapshot file mapped read-only into memory.
final class MappedSnapshot {
    let path: String
    // Mapped in init, unmapped in deinit; never written through.
    let bytes: UnsafeRawBufferPointer

    init(path: String) throws(SnapshotError) {
        self.path = path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ioError("open", path) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ioError("fstat", path) }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), address != MAP_FAILED else {
            throw ioError("mmap", path)
        }
        // The decoder reads front to back, once.
        _ = madvise(address, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        if let address = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: address), bytes.count) }
    }
}

/// The error for a failed system call, with errno's text.
private func ioError(_ call: String, _ path: String, errno code: Int32 = errno) -> SnapshotError {
    .io.with("\(call) \(path): \(String(cString: strerror(code)))")
}
