#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a snapshot could not be written or read. A failed write leaves the
/// previous snapshot file as it was; a failed read leaves every store as it
/// was.
///
/// Like ``StoreError``, a struct with one static member per kind, matched
/// with an expression pattern; the description says where and why (the
/// file, the byte offset, the record).
public struct SnapshotError: Error, Hashable, Sendable {
    private enum Kind: Hashable, Sendable {
        case notRDB, unsupportedVersion, checksumMismatch, truncated, corrupt, unsupportedType, io, storeFull
    }

    private let kind: Kind
    private let detail: String

    private init(_ kind: Kind, _ detail: String) {
        self.kind = kind
        self.detail = detail
    }

    /// The file does not start with "REDIS" and a version number.
    public static let notRDB = SnapshotError(.notRDB, "")
    /// An RDB version newer than this library reads.
    public static let unsupportedVersion = SnapshotError(.unsupportedVersion, "")
    /// The CRC-64 at the end does not match the file's bytes: the file was
    /// changed or damaged after it was written.
    public static let checksumMismatch = SnapshotError(.checksumMismatch, "")
    /// The file ends before its EOF record (a copy cut short, a disk full).
    public static let truncated = SnapshotError(.truncated, "")
    /// A record that cannot be decoded: a length past the end, a bad
    /// encoding, an unknown opcode.
    public static let corrupt = SnapshotError(.corrupt, "")
    /// A value of a type this store cannot hold or skip (streams, modules).
    public static let unsupportedType = SnapshotError(.unsupportedType, "")
    /// A system call on the file or its folder failed; the description
    /// names the call, the path and the error.
    public static let io = SnapshotError(.io, "")
    /// The store refused a key while loading (full, or a key or value over
    /// its limits); the description says which.
    public static let storeFull = SnapshotError(.storeFull, "")

    /// The same kind with `detail` in its description.
    func with(_ detail: String) -> SnapshotError {
        SnapshotError(kind, detail)
    }

    public static func == (lhs: SnapshotError, rhs: SnapshotError) -> Bool {
        lhs.kind == rhs.kind
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
    }

    private var sentence: String {
        switch kind {
        case .notRDB: "The file is not an RDB snapshot."
        case .unsupportedVersion: "The snapshot's RDB version is newer than this library reads."
        case .checksumMismatch: "The snapshot's checksum does not match its contents."
        case .truncated: "The snapshot ends before its end marker."
        case .corrupt: "The snapshot has a record that cannot be decoded."
        case .unsupportedType: "The snapshot holds a value of a type the store cannot load."
        case .io: "A file operation on the snapshot failed."
        case .storeFull: "The store refused an entry of the snapshot."
        }
    }
}

extension SnapshotError: CustomStringConvertible {
    /// The kind, what it means and where, e.g. `SnapshotError.truncated:
    /// The snapshot ends before its end marker: at byte 1048576 of 2097152.`
    public var description: String {
        "SnapshotError.\(kind): \(errorDescription ?? "")"
    }
}

extension SnapshotError: LocalizedError {
    public var errorDescription: String? {
        detail.isEmpty ? sentence : "\(sentence.dropLast()): \(detail)."
    }
}
