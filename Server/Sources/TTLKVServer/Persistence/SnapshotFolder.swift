#if canImport(Glibc)
import Glibc
#endif

/// Where the snapshot lives, checked when the server starts.
enum SnapshotFolder {
    /// The absolute path of `directory` (which CONFIG GET dir shows, as
    /// Redis does); throws if it is not a folder the server can use.
    static func resolve(_ directory: String) throws -> String {
        guard let resolved = realpath(directory, nil) else {
            throw ServerError("cannot use --dir \(directory) for the snapshot: \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        var status = stat()
        guard stat(resolved, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
            throw ServerError("cannot use --dir \(directory) for the snapshot: not a folder")
        }
        return String(cString: resolved)
    }

    /// Whether there is something at `path` to load: anything but a missing
    /// file (a file that cannot be read is an error to report, not an
    /// empty start).
    static func hasSnapshot(at path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0 || errno != ENOENT
    }
}
