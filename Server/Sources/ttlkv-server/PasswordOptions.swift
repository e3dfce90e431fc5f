/*
 Where the password comes from. `--requirepass` puts it on the command line,
 which `ps` shows to every local user; `--requirepass-file` (the file's first
 line) and the TTLKV_REQUIREPASS environment variable keep it out of sight
 (/proc/PID/environ, like a mode-600 file, is readable by the same user and
 root only). The two options exclude each other; the environment variable is
 read only when neither is given, and then removed from the environment so
 that nothing the process starts inherits it.
 */
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

enum PasswordOptions {
    /// The environment variable that may hold the password.
    static let environmentVariable = "TTLKV_REQUIREPASS"

    /// The password from `option`, the file at `file`, or the environment;
    /// nil if none gives one.
    static func password(option: String?, file: String?) throws -> String? {
        switch (option, file) {
        case (_?, _?):
            throw ValidationError("give the password with --requirepass or --requirepass-file, not both")
        case (let option?, nil):
            return option
        case (nil, let file?):
            return try firstLine(of: file)
        case (nil, nil):
            guard let value = getenv(environmentVariable) else { return nil }
            let password = String(cString: value)
            unsetenv(environmentVariable)
            return password
        }
    }

    /// The first line of the file at path, without its line end.
    private static func firstLine(of path: String) throws -> String {
        guard let file = fopen(path, "r") else {
            throw ValidationError("cannot read --requirepass-file \(path): \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        while true {
            let c = getc(file)
            if c == EOF || c == 0x0A { break }
            bytes.append(UInt8(c))
        }
        if ferror(file) != 0 {
            throw ValidationError("cannot read --requirepass-file \(path): \(String(cString: strerror(errno)))")
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        guard let line = String(validating: bytes, as: UTF8.self) else {
            throw ValidationError("the password in --requirepass-file \(path) is not UTF-8 text")
        }
        return line
    }
}
