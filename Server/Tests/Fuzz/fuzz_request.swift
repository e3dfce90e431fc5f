/*
 libFuzzer harness for the server's request parser (RequestParser.swift and
 InlineArguments.swift, compiled alone with -sanitize=fuzzer,address).

 The first byte of an input picks the limits and how the rest is cut into
 reads; the rest is the byte stream a client sends. The stream is parsed
 twice: in one piece, and fed in growing pieces the way a connection feeds
 the parser (which gives back a large request's room after each read and
 request, releaseExcess). Both must find the same requests, the same arguments and the
 same error, every argument range must lie inside its request, and every
 multibulk request, encoded again, must parse back to itself. Crashes,
 overflows and hangs are failures too.
 */

struct Parsed: Equatable {
    var requests: [[[UInt8]]] = []
    var error: String?
}

func arguments(of parser: RequestParser, in request: ArraySlice<UInt8>, consumed: Int) -> [[UInt8]] {
    if parser.isInline {
        return parser.arguments.map { Array(parser.inlineBytes[$0]) }
    }
    return parser.arguments.map { range in
        precondition(range.lowerBound >= 0 && range.upperBound <= consumed, "argument outside its request")
        let base = request.startIndex
        return Array(request[(base + range.lowerBound)..<(base + range.upperBound)])
    }
}

/// Parses stream, revealing `step` more bytes per call (step 0: all at once).
func parse(_ stream: [UInt8], step: Int, limits: RequestLimits, unauthenticated: Bool) -> Parsed {
    var parser = RequestParser(limits: limits)
    parser.requireAuthentication = unauthenticated
    var result = Parsed()
    var start = 0
    var available = step == 0 ? stream.count : 0
    var calls = 0
    while true {
        if start >= available {
            if available >= stream.count { return result }
            available = min(stream.count, available + step)
            continue
        }
        calls += 1
        precondition(calls < 10 * stream.count + 100, "parser does not advance")
        let window = stream[start..<available]
        switch window.withUnsafeBytes({ parser.parse($0) }) {
        case .incomplete:
            if step > 0 { parser.releaseExcess() }
            if available >= stream.count { return result }
            available = min(stream.count, available + max(step, 1))
        case .protocolError(let message):
            result.error = message
            return result
        case .request(let consumed):
            precondition(consumed > 0 && consumed <= window.count, "bad consumed count")
            let args = arguments(of: parser, in: window, consumed: consumed)
            if !args.isEmpty { result.requests.append(args) }
            if step > 0 { parser.releaseExcess() }
            start += consumed
        }
    }
}

func encode(_ request: [[UInt8]]) -> [UInt8] {
    var out = Array("*\(request.count)\r\n".utf8)
    for argument in request {
        out += Array("$\(argument.count)\r\n".utf8) + argument + [13, 10]
    }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let control = data[0]
    let stream = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let limits = control & 1 == 0
        ? RequestLimits()
        : RequestLimits(maximumBulkLength: Int(control >> 4) * 10 + 1, maximumArguments: Int(control >> 5) + 1)
    let unauthenticated = control & 2 != 0
    let whole = parse(stream, step: 0, limits: limits, unauthenticated: unauthenticated)
    let pieces = parse(stream, step: Int(control >> 2 & 3) * 3 + 1, limits: limits, unauthenticated: unauthenticated)
    precondition(whole == pieces, "parsing in pieces differs from parsing at once")
    for request in whole.requests {
        let again = parse(encode(request), step: 0, limits: RequestLimits(), unauthenticated: false)
        precondition(again.requests == [request] && again.error == nil, "re-encoded request parses differently")
    }
    return 0
}
