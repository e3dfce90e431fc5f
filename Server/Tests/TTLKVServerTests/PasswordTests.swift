import Testing
@testable import TTLKVServer

/// The password comparison on its own: every guess of every length from 0
/// to 1,100 (prefixes, NUL padding, repetitions of the password, NULs)
/// against passwords whose lengths sit on and around multiples of 256.
@Suite struct PasswordTests {
    @Test(arguments: [1, 44, 255, 256, 257, 300, 512, 1024])
    func onlyThePasswordMatches(length: Int) {
        let password = String((0..<length).map { Character(UnicodeScalar(UInt8(97 + $0 % 26))) })
        let bytes = Array(password.utf8)
        var accepted: [Int] = []
        for guessLength in 0...1100 where guessLength != length {
            let guesses: [[UInt8]] = [
                guessLength < length ? Array(bytes[..<guessLength]) : bytes + Array(repeating: 0, count: guessLength - length),
                Array(repeating: 0, count: guessLength),
                (0..<guessLength).map { bytes[$0 % length] },
            ]
            for guess in guesses where guess.withUnsafeBytes({ constantTimeEqual($0, password) }) {
                accepted.append(guessLength)
            }
        }
        var nearMiss = bytes
        nearMiss[length - 1] ^= 1
        #expect(accepted == [])
        #expect(!nearMiss.withUnsafeBytes { constantTimeEqual($0, password) })
        #expect(bytes.withUnsafeBytes { constantTimeEqual($0, password) })
    }
}
