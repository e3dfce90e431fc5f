import NIOCore
import Testing
@testable import TTLKVServer

/// KEYS gathers its answer behind room for the array header and hands over
/// that very buffer: a `KEYS *` of millions of keys is never copied, on the
/// event loop or off it.
@Suite struct KeysWalkTests {
    @Test func theAnswerIsTheBufferTheKeysWereGatheredIn() throws {
        let connection = try TestConnection { $0.capacity = 20_000 }
        let access = connection.server.keyspace.access
        for i in 0..<12_345 {
            try Array("key:\(i)".utf8).withUnsafeBytes { key in
                try [UInt8]("v".utf8).withUnsafeBytes { try access.set(key, $0, deadline: nil) }
            }
        }
        var walk = Array("*".utf8).withUnsafeBytes { KeysWalk(pattern: $0) }
        try walk.walkAll(access)
        let gathered = walk.found.buffer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) }
        let answer = walk.answer()
        let header = "*12345\r\n"
        #expect(answer.getString(at: answer.readerIndex, length: header.utf8.count) == header)
        #expect(answer.withVeryUnsafeBytes { UnsafeRawPointer($0.baseAddress) } == gathered)
        #expect(answer.readerIndex == 23 - header.utf8.count)
        var copies = answer
        copies.moveReaderIndex(forwardBy: header.utf8.count)
        var keys = Set<String>()
        while copies.readableBytes > 0 {
            let line = copies.readString(length: copies.readableBytesView.firstIndex(of: UInt8(ascii: "\r"))! - copies.readerIndex)!
            copies.moveReaderIndex(forwardBy: 2)
            let length = Int(line.dropFirst())!
            keys.insert(copies.readString(length: length)!)
            copies.moveReaderIndex(forwardBy: 2)
        }
        #expect(keys == Set((0..<12_345).map { "key:\($0)" }))
    }
}
