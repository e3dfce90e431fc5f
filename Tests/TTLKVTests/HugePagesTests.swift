import Foundation
import Testing
import TTLKV

/// ``StoreConfiguration/usesHugePages`` promises that a store's entries are
/// asked onto huge pages. What the kernel grants depends on its setting and
/// free memory, so the test checks the advice on the mapping that holds an
/// entry's value (the `hg` VmFlag); whether a store without the option asks
/// is the C suite's question (Tests/C/slab.c), since the advice is
/// process-wide once given.
@Suite struct HugePagesTests {
    @Test func aStoreThatAsksKeepsItsEntriesOnHugePages() throws {
        guard FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled") else { return }
        var configuration = StoreConfiguration(capacity: 1000)
        configuration.usesHugePages = true
        let store = try Store(configuration: configuration)
        try store.set("a value of 32 bytes, give or take", forKey: "key")
        let address = try #require(try store.withValue(forKey: "key") { UInt(bitPattern: $0.baseAddress) })
        #expect(Self.flags(ofMappingHolding: address).contains(" hg"))
    }

    /// The VmFlags line of this process's mapping that holds `address`.
    static func flags(ofMappingHolding address: UInt) -> String {
        // Read to the end: a /proc file reports no size.
        guard let data = FileHandle(forReadingAtPath: "/proc/self/smaps")?.readDataToEndOfFile() else { return "" }
        let smaps = String(decoding: data, as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", maxSplits: 1)
            let range = fields.first?.split(separator: "-") ?? []
            if range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) {
                inside = address >= start && address < end
            } else if inside && line.hasPrefix("VmFlags:") {
                return " " + line.dropFirst("VmFlags:".count)
            }
        }
        return ""
    }
}
