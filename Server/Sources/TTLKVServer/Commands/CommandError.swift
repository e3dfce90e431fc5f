/// An error a command replies with instead of a result.
enum CommandError: Error, Equatable {
    case syntax
    case notInteger
    case message(String)

    var reply: String {
        switch self {
        case .syntax: "ERR syntax error"
        case .notInteger: "ERR value is not an integer or out of range"
        case .message(let text): text
        }
    }
}
