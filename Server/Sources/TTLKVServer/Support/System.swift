#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine and the process.
enum System {
    /// Online cores: the default number of event loops.
    static var coreCount: Int { max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))) }

    /// Raises the open-file limit to at least `files` if the hard limit
    /// allows (as Redis does for maxclients); returns the limit in force.
    static func raiseFileLimit(to files: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return files }
        if limit.rlim_cur < rlim_t(files) {
            limit.rlim_cur = min(rlim_t(files), limit.rlim_max)
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return Int(limit.rlim_cur)
    }
}

/// The process's memory, for INFO.
enum MemoryUse {
    /// Resident bytes (/proc/self/statm).
    static func resident() -> Int {
        guard let file = fopen("/proc/self/statm", "r") else { return 0 }
        defer { fclose(file) }
        var size = 0, resident = 0
        guard withUnsafeMutablePointer(to: &size, { size in
            withUnsafeMutablePointer(to: &resident) { resident in
                withVaList([size, resident]) { vfscanf(file, "%ld %ld", $0) }
            }
        }) == 2 else { return 0 }
        return resident * sysconf(Int32(_SC_PAGESIZE))
    }
}
