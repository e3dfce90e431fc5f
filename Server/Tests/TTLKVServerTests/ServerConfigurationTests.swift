import Testing
@testable import TTLKVServer

/// Protected mode as the configuration decides it: an address counts as
/// loopback only if every address it names is one, by number (a name is
/// resolved; one that does not resolve is not loopback), and an empty
/// password is no password, as Redis's `requirepass ""`.
@Suite struct ServerConfigurationTests {
    private func problem(bind: String, password: String?, protectedMode: Bool = true) -> String? {
        var configuration = ServerConfiguration()
        configuration.bindAddresses = [bind]
        configuration.password = password
        configuration.protectedMode = protectedMode
        return configuration.problem
    }

    @Test(arguments: ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1", "localhost", "127.1"])
    func loopbackAddressesNeedNoPassword(address: String) {
        #expect(problem(bind: address, password: nil) == nil)
        #expect(problem(bind: address, password: "") == nil)
    }

    @Test(arguments: ["0.0.0.0", "::", "10.1.2.3", "192.168.0.1", "::ffff:10.0.0.1", "2001:db8::1",
                      "127.attacker.invalid", "localhost.attacker.invalid", "127.0.0.1.invalid", "1270.0.0.1"])
    func otherAddressesNeedAPassword(address: String) {
        #expect(problem(bind: address, password: nil)?.contains("without a password") == true)
        #expect(problem(bind: address, password: "")?.contains("without a password") == true)
        #expect(problem(bind: address, password: "secret") == nil)
        #expect(problem(bind: address, password: nil, protectedMode: false) == nil)
    }

    @Test func anyOpenAddressAmongSeveralNeedsAPassword() {
        var configuration = ServerConfiguration()
        configuration.bindAddresses = ["127.0.0.1", "::1", "127.attacker.invalid"]
        #expect(configuration.problem?.contains("127.attacker.invalid") == true)
    }
}
