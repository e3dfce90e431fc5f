/// Why CONFIG SET (or the command line) refused a value: Redis's reason,
/// which CONFIG SET puts after "CONFIG SET failed (possibly related to
/// argument '<name>') - ".
struct ConfigError: Error, Equatable, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
